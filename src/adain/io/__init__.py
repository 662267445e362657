"""File formats: every byte adain reads or writes goes through this package.

``images`` (decoding every image mode, limits, atomic saves, grids, folders), ``photo`` (camera
metadata kept on outputs), ``profiles`` (ICC colour management), ``provenance`` (the output record),
``stylefile`` (style files) and ``atomic`` (atomic writes). The tensor core never imports it.
"""
