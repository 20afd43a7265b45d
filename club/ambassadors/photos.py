"""Activity photos: checked by their content with Pillow, turned upright, stripped of EXIF (and GPS) data,
and kept only as resized JPEG copies under var/uploads/activities/."""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps

from club.forms import Invalid
from club.i18n import N_

MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 60_000_000  # well above any camera, well below a decompression bomb
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# name -> longest side in pixels
SIZES = {"large": 1600, "thumb": 480}


class PhotoTooLarge(Invalid):
    """A photo over the size limit: refused with 413, as the body limit would."""


@dataclass(frozen=True)
class ProcessedPhoto:
    key: str
    width: int
    height: int
    copies: dict[str, bytes]


def uploads_dir(var_dir: Path) -> Path:
    return var_dir / "uploads" / "activities"


def photo_path(var_dir: Path, key: str, size: str) -> Path:
    return uploads_dir(var_dir) / key[:2] / f"{key}-{size}.jpg"


def check_size(size: int | None) -> None:
    if size is not None and size > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(N_("Each photo can be at most %(max)s MB."), max=MAX_PHOTO_BYTES // (1024 * 1024))


def process(stream: BinaryIO) -> ProcessedPhoto:
    """Decode an upload and make the copies; raises Invalid when it is not a JPEG, PNG or WebP picture.

    CPU-bound: call it in a worker thread."""
    not_a_photo = Invalid(N_("This file is not a JPEG, PNG or WebP photo."))
    data = stream.read(MAX_PHOTO_BYTES + 1)
    check_size(len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as probe:
                if probe.width * probe.height > MAX_PIXELS:
                    raise Invalid(N_("This photo has too many pixels; use one of at most 60 megapixels."))
                probe.verify()
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            image.load()
    except Invalid:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid(N_("This photo has too many pixels; use one of at most 60 megapixels.")) from None
    except Exception:  # anything Pillow cannot read is simply not a photo we take
        raise not_a_photo from None
    # Camera orientation is applied to the pixels, then every bit of metadata (EXIF, GPS, XMP) is left behind.
    upright = ImageOps.exif_transpose(image)
    if upright.mode in ("RGBA", "LA", "P"):
        rgba = upright.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        upright = background
    else:
        upright = upright.convert("RGB")
    copies: dict[str, bytes] = {}
    width, height = upright.size
    for name, longest in SIZES.items():
        copy = upright.copy()
        copy.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        copy.save(buffer, format="JPEG", quality=84, optimize=True, progressive=True)
        copies[name] = buffer.getvalue()
        if name == "large":
            width, height = copy.size
    return ProcessedPhoto(key=secrets.token_hex(16), width=width, height=height, copies=copies)


def store(var_dir: Path, photo: ProcessedPhoto) -> None:
    for size, data in photo.copies.items():
        path = photo_path(var_dir, photo.key, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(path)


def remove(var_dir: Path, key: str) -> None:
    for size in SIZES:
        photo_path(var_dir, key, size).unlink(missing_ok=True)
