"""The ``pix2pix`` family (Isola et al. 2017) and its networks: the PatchGAN's receptive field and logit grid per size
against hand counts."""

from __future__ import annotations

import pytest
import torch

from models.patchgan import PatchDiscriminator, logit_grid, receptive_field, strided_layers


#: side → (stride-2 layers, receptive field, logit grid), counted by hand: r = 1 → 4 → 7 (the two stride-1 layers)
#: → 2·6 + 4 = 16 → 2·15 + 4 = 34 → 2·33 + 4 = 70; grid side/2^N → −1 → −1.
PATCHES = {8: (1, 16, 2), 16: (1, 16, 6), 32: (1, 16, 14), 64: (1, 16, 30), 128: (2, 34, 30), 256: (3, 70, 30)}


@pytest.mark.parametrize("side", sorted(PATCHES))
def test_the_patchgan_receptive_field_and_grid_per_size_are_the_hand_counts(side):
    layers, field, grid = PATCHES[side]
    assert (strided_layers(side), receptive_field(side), logit_grid(side)) == (layers, field, grid)
    assert field == 9 * 2 ** layers - 2


@pytest.mark.parametrize("side", [8, 16, 32])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_the_patchgan_gives_one_logit_per_patch_of_its_grid(side, norm):
    grid = logit_grid(side)
    discriminator = PatchDiscriminator(4, side, width=4, norm=norm)
    assert discriminator(torch.randn(3, 4, side, side)).shape == (3, 1, grid, grid)


def test_the_patchgan_at_256_is_the_papers_70x70_d():
    """C64-C128-C256-C512 (strides 2, 2, 2, 1), then the logit layer; no norm on the first layer."""
    convs = [m for m in PatchDiscriminator(3, 256).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1)]
    norms = [m for m in PatchDiscriminator(3, 256).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [n.num_features for n in norms] == [128, 256, 512]


def test_a_logit_sees_exactly_its_receptive_field():
    """The gradient of the centre logit w.r.t. the input (positive weights: no cancellation) is non-zero on a square of
    the receptive field's side."""
    side = 128
    discriminator = PatchDiscriminator(1, side, width=2).eval()  # BatchNorm in eval mode: no mixing across pixels
    for module in discriminator.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.constant_(module.weight, 0.05)
    image = torch.randn(1, 1, side, side, requires_grad=True)
    grid = logit_grid(side)
    discriminator(image)[0, 0, grid // 2, grid // 2].backward()
    rows, cols = image.grad[0, 0].abs().gt(0).nonzero().unbind(1)
    assert int(rows.max() - rows.min()) + 1 == receptive_field(side) == int(cols.max() - cols.min()) + 1


def test_the_patchgan_refuses_an_unknown_norm_and_a_too_small_image():
    with pytest.raises(ValueError, match="norm 'group'"):
        PatchDiscriminator(3, 16, norm="group")
    with pytest.raises(ValueError, match="image_size 4"):
        PatchDiscriminator(3, 4)
