"""The style-control protocol: one validated Controls value, applied by the Stylizer; errors at the CLI boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from adain.cli import build_parser, main
from adain.cli._options import resolve_defaults
from adain.color import color_inputs, color_output
from adain.controls import Controls
from adain.errors import AdainError, UsageError
from adain.ops import StyleStats
from adain.stylizer import Stylizer
from helpers import lively_nets

pytestmark = pytest.mark.usefixtures("one_thread")


def _image(h: int, w: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, h // 4 + 2, w // 4 + 2, generator=gen)
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0] * 0.8 + 0.1


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 1.5}, "alpha must be in"),
        ({"alpha": -0.1}, "alpha must be in"),
        ({"weights": [1.0, -1.0]}, "finite and ≥ 0"),
        ({"weights": [0.0, 0.0]}, "all zero"),
        ({"weights": [float("nan")]}, "finite"),
        ({"weights": [1.0, 1.0], "masks": torch.ones(2, 4, 4)}, "not both"),
        ({"masks": torch.ones(4, 4)}, "(K, H, W)"),
        ({"preserve_color": "colour"}, "preserve_color must be one of"),
    ],
)
def test_controls_reject_bad_values_when_created(kwargs, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Controls(**kwargs)


def test_usage_errors_are_value_errors_and_adain_errors():
    with pytest.raises(ValueError):
        Controls(alpha=2)
    with pytest.raises(AdainError):
        Controls(alpha=2)


def test_controls_resolve_overrides_only_given_fields():
    base = Controls(alpha=0.5, preserve_color="color")
    c = Controls.resolve(base, alpha=None, weights=[1, 3])
    assert c.alpha == 0.5 and c.preserve_color == "color" and c.weights == (1.0, 3.0)


def test_checked_controls_are_trusted_and_replaced_fields_checked():
    base = Controls(alpha=0.5)
    assert Controls.resolve(base) is base and Controls.resolve(base, alpha=None) is base
    with pytest.raises(UsageError, match="all zero"):
        base.replace(weights=[0.0, 0.0])
    with pytest.raises(UsageError, match="not both"):
        base.replace(weights=[1.0], masks=torch.ones(1, 4, 4))
    with pytest.raises(TypeError, match="no field 'strength'"):
        base.replace(strength=1.0)
    assert Controls.resolve(None).alpha == 1.0
    with pytest.raises(UsageError):
        Controls.resolve(base, alpha=3)


def test_counts_are_checked_against_the_styles():
    with pytest.raises(UsageError, match="2 style weights given for 3 styles"):
        Controls(weights=[1, 1]).check_styles(3)
    with pytest.raises(UsageError, match=r"the mask tensor holds 2 maps, not one per style \(1\)"):
        Controls(masks=torch.ones(2, 8, 8)).check_styles(1)
    with pytest.raises(UsageError, match="masks are 8x8 but the content is 16x8"):
        Controls(masks=torch.ones(1, 8, 8)).check_styles(1, (8, 16))


# ---------------------------------------------------------------- the Stylizer applies all of it


def test_stylize_batch_applies_colour_preservation_itself(lively_stylizer):
    """stylize_batch with preserve_color gives what the hand-applied colour protocol gave."""
    content, style = _image(32, 40, 1), _image(24, 24, 2)
    for mode in ("color", "luminance"):
        net_content, net_styles = color_inputs(content, [style], mode)
        by_hand = color_output(lively_stylizer.stylize_batch(net_content[None], lively_stylizer.style_stats(net_styles))[0], content, mode)
        stats = lively_stylizer.style_stats([style], preserve_color=mode, reference=content)
        inside = lively_stylizer.stylize_batch(content[None], stats, Controls(preserve_color=mode))[0]
        torch.testing.assert_close(inside, by_hand, rtol=0, atol=1e-5)
        assert (inside - lively_stylizer.stylize(content, style)).abs().mean() > 1e-3  # the mode changes the result


def test_keywords_and_controls_give_the_same_result(lively_stylizer):
    content, styles = _image(32, 32, 3), [_image(24, 24, 4), _image(24, 24, 5)]
    a = lively_stylizer.stylize(content, styles, alpha=0.6, weights=[1, 3])
    b = lively_stylizer.stylize(content, styles, Controls(alpha=0.6, weights=(0.25, 0.75)))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - lively_stylizer.stylize(content, styles, alpha=0.6, weights=[3, 1])).abs().mean() > 1e-3


def test_style_stats_with_preserve_color_needs_the_content(lively_stylizer):
    with pytest.raises(UsageError, match="reference"):
        lively_stylizer.style_stats([_image(16, 16, 0)], preserve_color="color")


def test_the_callers_modules_are_not_changed_and_device_follows_the_modules():
    encoder, decoder = lively_nets()
    before = {k: v.clone() for k, v in decoder.state_dict().items()}
    stylizer = Stylizer(decoder, encoder=encoder, device="cpu", channels_last=True, bf16=False)
    conv = next(m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()  # not converted to channels_last in place
    assert stylizer.decoder is not decoder and stylizer.encoder is not encoder
    assert all(torch.equal(before[k], v) for k, v in decoder.state_dict().items())
    assert stylizer.device == torch.device("cpu")
    stylizer.to("meta")
    assert stylizer.device == torch.device("meta")


def test_style_stats_cat_index_and_to():
    a = StyleStats(torch.zeros(2, 4, 1, 1), torch.ones(2, 4, 1, 1))
    b = StyleStats(torch.full((1, 4, 1, 1), 5.0), torch.full((1, 4, 1, 1), 6.0))
    both = StyleStats.cat([a, b])
    assert len(both) == 3 and float(both.mean[2, 0]) == 5.0
    assert both[2].mean.shape == (1, 4, 1, 1) and float(both[-1].std[0, 0]) == 6.0
    assert len(both[1:]) == 2 and float(both[[2, 0]].mean[0, 0]) == 5.0
    assert both.to(torch.float64).mean.dtype == torch.float64


# ---------------------------------------------------------------- the command line


def test_cli_defaults_and_choices_come_from_the_dataclasses():
    from adain.apps.files import StylizeOptions
    from adain.training.train import TrainConfig

    args = resolve_defaults(build_parser().parse_args(["stylize", "-c", "a.jpg", "-s", "b.jpg", "-o", "c.jpg"]))
    assert args.alpha == Controls().alpha and args.style_size == StylizeOptions().style_size and args.quality == StylizeOptions().quality
    args = resolve_defaults(build_parser().parse_args(["train", "--content", "a", "--style", "b"]))
    assert (args.steps, args.lr, args.out) == (TrainConfig.steps, TrainConfig.lr, TrainConfig.out)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stylize", "-c", "a", "-s", "b", "-o", "c", "--preserve-color", "colour"])


def test_building_the_parser_loads_no_torch():
    code = "import sys; from adain.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_help_shows_the_dataclass_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["stylize", "--help"])
    assert "(default 1.0)" in capsys.readouterr().out


def test_cli_turns_only_adain_errors_into_one_line(monkeypatch, tmp_path, capsys):
    import adain.apps.files as files

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a user error")

    monkeypatch.setattr(files, "load_pair", broken)
    argv = ["stylize", "-c", str(tmp_path / "a.png"), "-s", str(tmp_path / "b.png"), "-o", str(tmp_path / "c.png")]
    with pytest.raises(RuntimeError, match="a bug"):
        main(argv)

    def bad(*args, **kwargs):
        raise UsageError("alpha must be in [0, 1], got 2")

    monkeypatch.setattr(files, "load_pair", bad)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "adain stylize: error: alpha must be in [0, 1], got 2\n"
