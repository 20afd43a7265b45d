"""Activity photos: checked by their content with Pillow, turned upright, stripped of EXIF (and GPS) data,
and kept only as resized JPEG copies under var/uploads/activities/."""

from __future__ import annotations

import io
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps

from club.forms import Invalid
from club.i18n import N_

MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 8 * 1024 * 1024
# What a phone photo needs: a camera's JPEG has 12 to 50 megapixels and is decoded at a reduced size (draft mode);
# a PNG or WebP (a screenshot, an edited photo) is decoded in full, four bytes a pixel, so it gets a lower limit.
# A picture above its limit is refused from its header, before any decoding.
MAX_MEGAPIXELS = {"JPEG": 50, "PNG": 16, "WEBP": 16}
MAX_PIXELS = max(MAX_MEGAPIXELS.values()) * 1_000_000
# How many photos are decoded at the same time in this process; the others wait their turn.
DECODING_AT_ONCE = 2
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# name -> longest side in pixels
SIZES = {"large": 1600, "thumb": 480}

_decoding = threading.BoundedSemaphore(DECODING_AT_ONCE)


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


def too_many_pixels(width: int, height: int, image_format: str) -> Invalid:
    return Invalid(
        N_(
            "This picture is %(width)s × %(height)s pixels, more than a phone photo needs. "
            "Use a photo of at most %(max)s megapixels."
        ),
        width=width,
        height=height,
        max=MAX_MEGAPIXELS.get(image_format, 16),
    )


def process(stream: BinaryIO) -> ProcessedPhoto:
    """Decode an upload and make the copies; raises Invalid when it is not a JPEG, PNG or WebP picture, or has more
    pixels than a phone photo. Its header is read first; a JPEG is decoded at a reduced size (draft mode); no more
    than DECODING_AT_ONCE photos are decoded at once. CPU-bound: call it in a worker thread."""
    not_a_photo = Invalid(N_("This file is not a JPEG, PNG or WebP photo."))
    data = stream.read(MAX_PHOTO_BYTES + 1)
    check_size(len(data))
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)  # reads the header only
    except Exception:  # anything Pillow cannot read is simply not a photo we take
        raise not_a_photo from None
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise not_a_photo
        image_format = str(image.format)
        if width * height > MAX_MEGAPIXELS.get(image_format, 0) * 1_000_000:
            raise too_many_pixels(width, height, image_format)
        longest = SIZES["large"]
        with _decoding:
            try:
                if image_format == "JPEG":
                    image.draft("RGB", (longest, longest))  # decodes at 1/2, 1/4 or 1/8 of the size, still >= 1600
                image.load()
                # Shrunk in place right after decoding, so the full-size pixels are let go before anything else.
                image.thumbnail((longest, longest), Image.Resampling.LANCZOS, reducing_gap=3.0)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise too_many_pixels(width, height, image_format) from None
            except Exception:
                raise not_a_photo from None
        # Camera orientation is applied to the pixels, then every bit of metadata (EXIF, GPS, XMP) is left behind.
        upright = ImageOps.exif_transpose(image)
    if upright.mode in ("RGBA", "LA", "P", "PA"):
        rgba = upright.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        upright = background
    else:
        upright = upright.convert("RGB")
    copies: dict[str, bytes] = {}
    width, height = upright.size
    for name, side in SIZES.items():
        copy = upright.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
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
