"""Autoencoder tokenizers: RQ-VAE (TIGER) and a product-VQ VAE (the non-residual baseline).

Both share one MLP autoencoder ``d -> hidden_dims -> latent_dim -> reversed(hidden_dims) -> d``
(ReLU between layers), trained with the reconstruction MSE plus, per level, the VQ codebook loss
``||sg(r) - e||^2`` and the commitment loss ``beta * ||r - sg(e)||^2``; gradients pass the
quantizer straight through. Codebooks start from k-means on the initial latents, and codewords
that no item chose during the last ``restart_every`` steps are restarted on random residuals of
the current batch ("dead-code restart").

* RQ-VAE (``rqvae``): level l quantizes the residual left by levels < l; all codebooks are
  ``[K, latent_dim]``; the quantized latent is the sum of the chosen codewords.
* VQ-VAE (``vqvae``), our reading of the VQ-VAE baseline that IntRR compares against: the latent is
  split into L equal slices and slice l is quantized by codebook l ``[K, latent_dim / L]``
  independently (product quantization inside a VAE). Levels carry no coarse-to-fine hierarchy,
  which is exactly what the residual methods add.

Inputs are standardised (minus the mean, divided by one global scale) before the encoder.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .base import Quantizer, seeded
from .kmeans import kmeans, sq_distances

__all__ = ["RQVAE", "ProductVQVAE"]


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _VAEQuantizer(Quantizer):
    """Shared training loop; subclasses define the level slices via ``_level_inputs``."""

    def __init__(self, config):
        super().__init__(config)
        self.encoder: nn.Sequential | None = None
        self.decoder: nn.Sequential | None = None
        self.books: nn.ParameterList | None = None
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None

    # -- architecture --
    def _book_dim(self) -> int:
        raise NotImplementedError

    def _build(self, d: int) -> None:
        cfg = self.config
        with seeded(cfg.seed, self.device):
            self.encoder = _mlp([d, *cfg.hidden_dims, cfg.latent_dim]).to(self.device)
            self.decoder = _mlp([cfg.latent_dim, *reversed(cfg.hidden_dims), d]).to(self.device)
            self.books = nn.ParameterList(
                [nn.Parameter(torch.zeros(cfg.codebook_size, self._book_dim(), device=self.device)) for _ in range(cfg.levels)]
            )

    def _latent(self, X):
        return self.encoder((X - self.mean) / self.scale)

    def _decode(self, Zq):
        return self.decoder(Zq) * self.scale + self.mean

    def _codebook_tensors(self):
        return list(self.books)

    # -- training --
    def _quantize_train(self, z: torch.Tensor):
        """Straight-through quantization of a batch: (zq, loss, codes [B, L], level inputs)."""
        raise NotImplementedError

    def _init_books(self, Z: torch.Tensor, cancel) -> None:
        raise NotImplementedError

    def _fit(self, X: torch.Tensor, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        cfg = self.config
        self.mean = X.mean(0)
        self.scale = (X - self.mean).std().clamp_min(1e-8)
        self._build(X.shape[1])
        with torch.no_grad():
            self._init_books(self._latent(X), cancel)
        report(progress, 0.05, "codebooks initialised by k-means")
        params = [*self.encoder.parameters(), *self.decoder.parameters(), *self.books.parameters()]
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
        warm = max(1, cfg.steps // 20)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps)))
        )
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        n, B = X.shape[0], min(cfg.batch_size, X.shape[0])
        usage = torch.zeros(cfg.levels, cfg.codebook_size, device=self.device)
        perm, pos = torch.randperm(n, generator=gen), 0
        for step in range(cfg.steps):
            check_cancel(cancel)
            if pos + B > n:
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos : pos + B].to(self.device)
            pos += B
            x = X[idx]
            z = self.encoder((x - self.mean) / self.scale)
            zq, vq_loss, codes, level_inputs = self._quantize_train(z)
            xhat = self.decoder(z + (zq - z).detach())
            loss = F.mse_loss(xhat, (x - self.mean) / self.scale) + vq_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for l in range(cfg.levels):
                usage[l] += torch.bincount(codes[:, l], minlength=cfg.codebook_size)
            if cfg.restart_every and (step + 1) % cfg.restart_every == 0 and step + 1 < cfg.steps:
                self._restart_dead(usage, level_inputs, gen)
                usage.zero_()
            if step % 25 == 0 or step == cfg.steps - 1:
                report(progress, 0.05 + 0.95 * (step + 1) / cfg.steps, f"step {step + 1}/{cfg.steps} loss {loss.item():.4f}")

    @torch.no_grad()
    def _restart_dead(self, usage, level_inputs, gen) -> None:
        for l, book in enumerate(self.books):
            dead = torch.nonzero(usage[l] == 0).squeeze(1)
            if dead.numel():
                src = level_inputs[l].detach()
                pick = torch.randint(src.shape[0], (dead.numel(),), generator=gen).to(self.device)
                book.data[dead] = src[pick]

    # -- state --
    def state_tensors(self):
        t = self._base_state()
        t["mean"], t["scale"] = self.mean.detach().cpu(), self.scale.detach().cpu().reshape(1)
        for prefix, mod in (("encoder", self.encoder), ("decoder", self.decoder)):
            t.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in mod.state_dict().items()})
        t.update({f"codebook.{l}": b.detach().cpu().contiguous() for l, b in enumerate(self.books)})
        return t

    def load_state_tensors(self, tensors):
        self._load_base_state(tensors)
        self._build(self.input_dim)
        self.mean = tensors["mean"].to(self.device).float()
        self.scale = tensors["scale"].to(self.device).float().reshape(())
        for prefix, mod in (("encoder", self.encoder), ("decoder", self.decoder)):
            mod.load_state_dict({k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")})
        with torch.no_grad():
            for l, b in enumerate(self.books):
                b.copy_(tensors[f"codebook.{l}"].to(self.device))
        self.encoder.eval(), self.decoder.eval()


class RQVAE(_VAEQuantizer):
    """TIGER's RQ-VAE: residual quantization of an MLP latent with L codebooks ``[K, latent_dim]``."""

    method = "rqvae"

    def _book_dim(self):
        return self.config.latent_dim

    def _init_books(self, Z, cancel):
        r = Z
        for l, book in enumerate(self.books):
            res = kmeans(r, self.config.codebook_size, iters=10, seed=self.config.seed + l, cancel=cancel)
            book.data.copy_(res.centroids)
            r = r - res.centroids[res.labels]

    def _quantize_train(self, z):
        r, zq, loss, codes, inputs = z, torch.zeros_like(z), z.new_zeros(()), [], []
        for book in self.books:
            inputs.append(r)
            c = sq_distances(r.detach(), book.detach()).argmin(1)
            e = book[c]
            loss = loss + F.mse_loss(e, r.detach()) + self.config.beta * F.mse_loss(r, e.detach())
            zq = zq + e
            r = r - e.detach()
            codes.append(c)
        return zq, loss, torch.stack(codes, 1), inputs


class ProductVQVAE(_VAEQuantizer):
    """Product VQ inside a VAE: slice l of the latent is quantized by codebook l, independently."""

    method = "vqvae"

    def _book_dim(self):
        return self.config.latent_dim // self.config.levels

    def _slices(self, Z):
        return torch.split(Z, self._book_dim(), dim=1)

    def _init_books(self, Z, cancel):
        for l, (book, part) in enumerate(zip(self.books, self._slices(Z))):
            book.data.copy_(kmeans(part, self.config.codebook_size, iters=10, seed=self.config.seed + l, cancel=cancel).centroids)

    def _quantize_train(self, z):
        parts, outs, loss, codes = self._slices(z), [], z.new_zeros(()), []
        for book, p in zip(self.books, parts):
            c = sq_distances(p.detach(), book.detach()).argmin(1)
            e = book[c]
            loss = loss + F.mse_loss(e, p.detach()) + self.config.beta * F.mse_loss(p, e.detach())
            outs.append(e)
            codes.append(c)
        return torch.cat(outs, 1), loss, torch.stack(codes, 1), list(parts)

    def _walk(self, Z, keep_dist=False, along=None):
        # levels are separate slices of the latent: a level's distances do not depend on the
        # earlier codes, so ``along`` only sets the codes returned
        codes, dists, norms = [], [], []
        books = self._codebook_tensors()
        err = torch.zeros(Z.shape[0], device=Z.device)
        parts = self._slices(Z)
        # "residual" of a product quantizer after level l: the unquantized slices plus the error of
        # the quantized ones, so the norms fall level by level like the residual methods' do.
        rest = [(p * p).sum(1) for p in parts]
        norms.append(sum(rest))
        for l, (book, p) in enumerate(zip(books, parts)):
            d = sq_distances(p, book)
            c = d.argmin(1) if along is None else along[:, l]
            codes.append(c)
            if keep_dist:
                dists.append(d)
            err = err + d.gather(1, c[:, None]).squeeze(1)
            norms.append(err + sum(rest[l + 1 :]) if l + 1 < len(rest) else err.clone())
        return torch.stack(codes, 1), dists, torch.stack(norms)

    def _quantized_latent(self, codes):
        return torch.cat([b[codes[:, l]] for l, b in enumerate(self._codebook_tensors())], 1)
