"""The history of generated images a discriminator is shown (Shrivastava et al. 2017, Sec. 2.3; CycleGAN, Zhu et
al. 2017, Sec. 4: "a history of generated images rather than the ones produced by the latest generators", a buffer
of 50).

As the authors' ``ImagePool`` (junyanz/pytorch-CycleGAN-and-pix2pix, ``util/image_pool.py``), image by image of a
batch: while the pool holds fewer than ``size`` images, the new image is stored and shown; once it is full, with
probability ½ a stored image drawn uniformly is shown and the new one takes its place, else the new image is shown.
``size`` 0: the new images are shown as they are. The draws come from the caller's generator (the step's ``rng``),
so a run resumed with the pool's :meth:`ImagePool.state_dict` draws and shows the same images.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Zhu et al. 2017, Sec. 4 (the authors' ``--pool_size``).
POOL_SIZE = 50
#: The chance that a full pool shows a stored image instead of the new one.
SWAP_PROBABILITY = 0.5


class ImagePool:
    """Up to ``size`` past generated images on ``device`` (see the module docstring)."""

    def __init__(self, size: int = POOL_SIZE, device: torch.device | str = "cpu") -> None:
        self.size, self.device = size, torch.device(device)
        self.images: list[Tensor] = []

    def query(self, images: Tensor, rng: torch.Generator) -> Tensor:
        """The batch to show for the new (detached) ``images``, the pool updated. Draws two numbers from ``rng``
        per image that arrives at a full pool, none while it fills."""
        images = images.detach()
        if self.size == 0:
            return images
        arriving_full = max(0, len(images) - (self.size - len(self.images)))
        swaps = (torch.rand(arriving_full, generator=rng, device=rng.device) < SWAP_PROBABILITY).tolist()
        slots = torch.randint(self.size, (arriving_full,), generator=rng, device=rng.device).tolist()
        shown, draw = [], 0
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                shown.append(image)
                continue
            if swaps[draw]:
                shown.append(self.images[slots[draw]])
                self.images[slots[draw]] = image.clone()
            else:
                shown.append(image)
            draw += 1
        return torch.stack(shown)

    def state_dict(self) -> dict[str, Tensor]:
        """``{"images": (n, C, H, W)}`` on the CPU, n ≤ ``size`` the images held (an empty tensor when none)."""
        return {"images": torch.stack(self.images).cpu() if self.images else torch.empty(0)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.images = [image.to(self.device) for image in state["images"]]
