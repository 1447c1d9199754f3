r"""Fréchet Inception Distance (Heusel et al. 2017), with an offline MNIST feature network.

FID fits a Gaussian to the features of real images, :math:`\mathcal N(\mu_r, \Sigma_r)`, and
one to the features of generated images, :math:`\mathcal N(\mu_g, \Sigma_g)`, and reports the
Fréchet (2-Wasserstein) distance between them:

.. math::

    \mathrm{FID} = \lVert \mu_r - \mu_g \rVert^2
        + \operatorname{Tr}\bigl(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\bigr).

Lower is better; 0 means the two Gaussians are equal. The feature extractors:

* ``"mnist-style-features"`` (:data:`DEFAULT_FEATURES`, offline): 160 features of
  :class:`~ddpm_tutorial.models.StyleFeatureNet`, a digit classifier read at three depths
  (stroke, parts, class), so that FID sees stroke style and within-class variation as well as
  the digit's class. Trained by ``python -m ddpm_tutorial train-features``; its card records
  the sensitivity suite (:mod:`ddpm_tutorial.metrics.validation`) that shows it.
* ``"mnist-features"`` (offline): the book's first features, the 64-d penultimate layer of
  :class:`~ddpm_tutorial.models.FeatureNet`; it sees the class well and stroke style barely
  (``train-features --kind feature-net``). Kept so that the metrics chapter can show both.
* ``"inception"``: torchvision's Inception-v3 pool3 features (2048-d), the extractor of the
  papers; its weights are downloaded by torchvision, so this needs a network. (The papers'
  numbers use the TensorFlow Inception weights of ``pytorch-fid``; torchvision's ImageNet
  weights give close but not identical values.)

FID depends on the number of samples (its estimate is biased upwards for small N), on the
reference set and on the extractor: only compare FIDs measured the same way, and report the
real-vs-real floor at the same N and an interval beside each
(:mod:`ddpm_tutorial.metrics.intervals`). The reference
here is the held-out MNIST split (``load_mnist("test")``: 1,000 digits offline, 10,000 with
torchvision's MNIST), which no diffusion model of the book trains on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoints import load_checkpoint
from ..data.mnist import load_mnist
from ..models.feature_net import FeatureNet, StyleFeatureNet

__all__ = [
    "DEFAULT_FEATURES",
    "FeatureExtractor",
    "extract_features",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "gaussian_statistics",
    "inception_feature_extractor",
    "load_feature_extractor",
    "mnist_feature_extractor",
    "real_features",
    "reference_statistics",
    "sqrt_psd",
]

#: images (N, 1, 28, 28) in [-1, 1] -> features (N, D)
FeatureExtractor = Callable[[Tensor], Tensor]
#: the features every metric of the book uses unless told otherwise
DEFAULT_FEATURES = "mnist-style-features"


def gaussian_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64 (unbiased, N - 1)."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"features must have shape (N, D) with N >= 2; got {tuple(features.shape)}"
        )
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def sqrt_psd(matrix: Tensor) -> Tensor:
    """Symmetric square root of a positive semi-definite matrix (negative eigenvalues -> 0)."""
    vals, vecs = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    r"""Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    :math:`\lVert\mu_1-\mu_2\rVert^2 + \operatorname{Tr}(\Sigma_1) + \operatorname{Tr}(\Sigma_2)
    - 2\operatorname{Tr}\bigl((\Sigma_1\Sigma_2)^{1/2}\bigr)`, where the last trace is computed
    stably as :math:`\sum_i \sqrt{\lambda_i}` over the eigenvalues of the symmetric matrix
    :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}` (it has the same eigenvalues as
    :math:`\Sigma_1\Sigma_2`).

    Args:
        mu1, mu2: means, shape (D,).
        sigma1, sigma2: covariances, shape (D, D), symmetric positive semi-definite.
    """
    mu1, mu2, sigma1, sigma2 = (v.double() for v in (mu1, mu2, sigma1, sigma2))
    D = mu1.shape[0]
    for name, v, shape in (
        ("mu2", mu2, (D,)),
        ("sigma1", sigma1, (D, D)),
        ("sigma2", sigma2, (D, D)),
    ):
        if tuple(v.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match mu1; got {tuple(v.shape)}")
    root1 = sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    eig = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0)
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * eig.sqrt().sum()
    return max(float(value), 0.0)


def fid_from_features(features_a: Tensor, features_b: Tensor) -> float:
    """FID between two sets of features (Na, D) and (Nb, D)."""
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


# ------------------------------------------------------------------------------ extractors
def mnist_feature_extractor(
    name: str = DEFAULT_FEATURES, device: torch.device | str = "cpu"
) -> FeatureExtractor:
    """A shipped feature network as a feature extractor.

    Args:
        name: a checkpoint of kind ``style-feature-net`` (160-d,
            :meth:`~ddpm_tutorial.models.StyleFeatureNet.features`) or ``feature-net`` (64-d,
            :meth:`~ddpm_tutorial.models.FeatureNet.features`).
        device: where the network runs; the features come back on the CPU.
    """
    net = load_checkpoint(name, device=device).model
    if not isinstance(net, (FeatureNet, StyleFeatureNet)):
        raise ValueError(
            f"{name!r} is a {type(net).__name__}, not a feature network "
            "(a style-feature-net or feature-net checkpoint)"
        )

    @torch.no_grad()
    def extract(images: Tensor) -> Tensor:
        return net.features(images.to(device).float().clamp(-1, 1)).cpu()

    return extract


def inception_feature_extractor(device: torch.device | str = "cpu") -> FeatureExtractor:
    """torchvision's Inception-v3 pool3 features (2048-d); downloads the weights (online only).

    Digits are mapped from [-1, 1] to [0, 1], repeated to 3 channels, resized to 299x299
    bilinearly and normalised with the ImageNet mean and standard deviation.
    """
    from torchvision.models import Inception_V3_Weights, inception_v3

    try:
        net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, aux_logits=True)
    except Exception as err:  # noqa: BLE001 - any download failure means the same thing
        raise RuntimeError(
            "the Inception-v3 weights could not be downloaded (offline?); use "
            "features='mnist-features', the offline FID of this book"
        ) from err
    net.fc = torch.nn.Identity()
    net.eval().to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    @torch.no_grad()
    def extract(images: Tensor) -> Tensor:
        x = (images.to(device).float().clamp(-1, 1) + 1) / 2
        x = F.interpolate(x.expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear")
        return net((x - mean) / std).cpu()

    return extract


@functools.lru_cache(maxsize=4)
def load_feature_extractor(features: str = DEFAULT_FEATURES) -> FeatureExtractor:
    """A feature checkpoint's name (e.g. ``"mnist-style-features"``) or ``"inception"``; cached."""
    if features == "inception":
        return inception_feature_extractor()
    return mnist_feature_extractor(features)


def extract_features(
    images: Tensor, extractor: FeatureExtractor | str = DEFAULT_FEATURES, batch_size: int = 500
) -> Tensor:
    """Features (N, D) of images (N, 1, 28, 28) in [-1, 1], in batches."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"FID expects images of shape (N, 1, 28, 28); got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("the images contain NaN or inf; FID is undefined for them")
    extract = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    return torch.cat(
        [extract(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    )


@functools.lru_cache(maxsize=8)
def _real_features(features: str, split: str, source: str) -> Tensor:
    real = load_mnist(split, source=source, verbose=False).images  # type: ignore[arg-type]
    return extract_features(real, features)


def real_features(
    features: str = DEFAULT_FEATURES, split: str = "test", source: str = "auto"
) -> Tensor:
    """Features (N, D) of every real digit of ``split``, in the split's order; cached.

    Args:
        features: the extractor's name (see :func:`load_feature_extractor`).
        split: ``"test"`` (the held-out digits, FID's reference) or ``"train"``.
        source: the MNIST source (see :func:`~ddpm_tutorial.data.mnist.load_mnist`).

    Returns:
        The cached tensor itself: do not modify it in place.
    """
    return _real_features(features, split, source)


@functools.lru_cache(maxsize=8)
def _reference(features: str, split: str, source: str) -> tuple[Tensor, Tensor, int]:
    f = real_features(features, split, source)
    mu, sigma = gaussian_statistics(f)
    return mu, sigma, int(f.shape[0])


def reference_statistics(
    features: str = DEFAULT_FEATURES, split: str = "test", source: str = "auto"
) -> tuple[Tensor, Tensor, int]:
    """(mu (D,), sigma (D, D), N) of the real digits of ``split`` (default: held out); cached."""
    return _reference(features, split, source)


def fid(
    samples: Tensor,
    *,
    features: str = DEFAULT_FEATURES,
    reference: Tensor | Literal["test", "train"] = "test",
    source: str = "auto",
) -> float:
    """FID of samples (N, 1, 28, 28) in [-1, 1] against real digits.

    Args:
        samples: generated (or any) images; values outside [-1, 1] are clipped first.
        features: ``"mnist-style-features"`` (the default), ``"mnist-features"`` (the
            book's first, 64-d) or ``"inception"`` (downloads weights).
        reference: a split of MNIST (``"test"``: the held-out digits) or a tensor of images.
        source: MNIST source for a split reference (see ``load_mnist``).
    """
    extractor = load_feature_extractor(features)
    mu_s, sigma_s = gaussian_statistics(extract_features(samples, extractor))
    if isinstance(reference, Tensor):
        mu_r, sigma_r = gaussian_statistics(extract_features(reference, extractor))
    else:
        mu_r, sigma_r, _ = reference_statistics(features, reference, source)
    return frechet_distance(mu_s, sigma_s, mu_r, sigma_r)
