"""GAN families that only tests register: proof that the family interface serves more than the built-in ones."""
