"""Apps: stylizing files, videos and datasets, and the web server, built on the core."""
