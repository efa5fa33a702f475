"""Photos re-encoded without metadata (chat/domain/images.py)."""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image

from chat.domain.images import ImageRejected, gps_location, process_photo


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def with_gps(lat_ref: str, lon_ref: str) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: lat_ref, ExifTags.GPS.GPSLatitude: (33.0, 51.0, 0.0),
        ExifTags.GPS.GPSLongitudeRef: lon_ref, ExifTags.GPS.GPSLongitude: (151.0, 12.0, 36.0)}
    return exif


def test_gps_is_read_with_its_hemispheres() -> None:
    data = encoded(Image.new("RGB", (8, 8)), "JPEG", exif=with_gps("S", "E").tobytes())
    location = gps_location(Image.open(io.BytesIO(data)).getexif())
    assert location is not None and (location.lat, location.lon) == (-33.85, 151.21)
    assert gps_location(Image.Exif()) is None


def test_the_place_is_returned_only_when_kept_and_never_written() -> None:
    data = encoded(Image.new("RGB", (100, 50)), "JPEG", exif=with_gps("N", "W").tobytes())
    kept = process_photo(data, keep_location=True)
    assert kept.location is not None and kept.location.lon == -151.21
    assert process_photo(data, keep_location=False).location is None
    assert dict(Image.open(io.BytesIO(kept.image.data)).getexif()) == {}


def test_transparency_keeps_png_and_opaque_images_become_jpeg() -> None:
    clear = process_photo(encoded(Image.new("RGBA", (10, 10), (0, 0, 0, 0)), "PNG"),
                          keep_location=False)
    assert clear.image.content_type == "image/png"
    opaque = process_photo(encoded(Image.new("RGBA", (10, 10), (1, 2, 3, 255)), "PNG"),
                           keep_location=False)
    assert opaque.image.content_type == "image/jpeg"
    webp = process_photo(encoded(Image.new("RGB", (3000, 1000)), "WEBP"), keep_location=False)
    assert (webp.image.width, webp.image.height) == (2048, 683)
    assert (webp.thumb.width, webp.thumb.height) == (320, 107)


def test_a_png_s_text_and_colour_profile_are_dropped() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "鈴木 花子")
    data = encoded(Image.new("RGBA", (10, 10), (0, 0, 0, 10)), "PNG", pnginfo=info,
                   icc_profile=b"not really a profile")
    out = process_photo(data, keep_location=False).image.data
    stored = Image.open(io.BytesIO(out))
    assert "Author" not in stored.info and "icc_profile" not in stored.info


@pytest.mark.parametrize("data", [b"", b"GIF89a....", encoded(Image.new("RGB", (4, 4)), "GIF"),
                                  encoded(Image.new("RGB", (4, 4)), "BMP")])
def test_anything_but_jpeg_png_or_webp_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRejected):
        process_photo(data, keep_location=False)


def test_a_truncated_image_is_refused() -> None:
    data = encoded(Image.new("RGB", (400, 400), (9, 9, 9)), "JPEG")
    with pytest.raises(ImageRejected):
        process_photo(data[: len(data) // 3], keep_location=False)
