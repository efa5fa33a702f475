"""Photos: decode, check, orient, resize and re-encode without any metadata (pure; CPU
bound, so callers run it in a worker thread).

A phone's photo carries EXIF: the place it was taken, the device, often the owner's
name. Re-encoding from the pixels alone drops all of it (EXIF, XMP, IPTC, ICC profiles,
PNG text chunks). The place is read first and handed back separately, and only when the
sender chose to share it: it is then stored in the database, never in the file.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

ACCEPTED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MAX_SIDE = 2048
THUMB_SIDE = 320
# A 12-megapixel phone photo is far below this; a decompression bomb is far above it.
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 85
THUMB_QUALITY = 80


class ImageRejected(ValueError):
    """Not an image we accept (undecodable, another format, or too many pixels)."""


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ProcessedPhoto:
    image: Encoded
    thumb: Encoded
    location: Location | None


def process_photo(data: bytes, *, keep_location: bool) -> ProcessedPhoto:
    """Re-encode ``data`` (JPEG, PNG or WebP) at most ``MAX_SIDE`` px on its long side,
    with a thumbnail of at most ``THUMB_SIDE`` px, both without metadata. JPEG out,
    or PNG for images with transparency. Raises ImageRejected."""
    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.format not in ACCEPTED_TYPES.values():
                raise ImageRejected(f"unsupported image format {source.format}")
            width, height = source.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise ImageRejected(f"the image has too many pixels ({width}×{height})")
            location = gps_location(source.getexif()) if keep_location else None
            source.load()
            # Apply the EXIF orientation to the pixels, since the tag itself goes.
            oriented = ImageOps.exif_transpose(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("the image has too many pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageRejected):
            raise
        raise ImageRejected("the file is not a readable image") from exc
    pixels = _without_metadata(oriented)
    image = _encode(_fit(pixels, MAX_SIDE), quality=JPEG_QUALITY)
    thumb = _encode(_fit(pixels, THUMB_SIDE), quality=THUMB_QUALITY)
    return ProcessedPhoto(image=image, thumb=thumb, location=location)


def _without_metadata(image: Image.Image) -> Image.Image:
    """The pixels only, as RGB or (with transparency) RGBA."""
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or (
        image.mode == "P" and "transparency" in image.info)
    clean = image.convert("RGBA" if has_alpha else "RGB")
    bands: Any = clean.getextrema()
    if has_alpha and bands[3][0] == 255:
        clean = clean.convert("RGB")   # an alpha channel that is opaque everywhere
    clean.info = {}
    return clean


def _fit(image: Image.Image, side: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    copy.info = {}
    return copy


def _encode(image: Image.Image, *, quality: int) -> Encoded:
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
        content_type = "image/jpeg"
    return Encoded(out.getvalue(), content_type, image.width, image.height)


def gps_location(exif: Image.Exif) -> Location | None:
    """Latitude and longitude from EXIF GPS tags (degrees, minutes, seconds and the
    N/S, E/W references), or None when absent or out of range."""
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef))
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Location(round(lat, 6), round(lon, 6))


def _degrees(dms: Any, ref: Any) -> float:
    d, m, s = (Fraction(str(float(part))) for part in dms)
    value = float(d + m / 60 + s / 3600)
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -value if str(ref).strip().upper() in {"S", "W"} else value
