"""Preprocessing: the model input from a cached array or a DICOM file, and seeded augmentation.

Expected values are derived by hand from the definitions (DICOM PS3.3 C.11.1 modality LUT,
MONOCHROME1 = inverted grey scale, symmetric zero padding to a square), not from the code.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from inference.engine.transforms import (
    Augment,
    ModalityLUT,
    Preprocess,
    ResizeToInput,
    cached_array,
    cached_array_from_dicom,
    describe_preprocessing,
    preprocess_dicom,
)


def mr_slice(pixels: np.ndarray, *, slope=1.0, intercept=0.0, photometric="MONOCHROME2"):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


@pytest.fixture
def pixels():
    rng = np.random.default_rng(3)
    img = rng.integers(50, 200, size=(48, 40)).astype(np.uint16)
    img[10:30, 8:20] += 2000  # a bright object left of centre
    return img


def test_preprocess_gives_float32_square_input_in_unit_range(pixels):
    x = Preprocess(32)(cached_array(pixels))
    assert x.dtype == torch.float32
    assert tuple(x.shape) == (1, 32, 32)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.max()) > 0.9  # the bright object survives the resize


def test_preprocess_accepts_a_channel_axis_and_refuses_other_shapes(pixels):
    a = cached_array(pixels)
    assert torch.equal(Preprocess(32)(a[None]), Preprocess(32)(a))
    with pytest.raises(ValueError, match=r"array: expected a cached 2-D image .* \(2, 48, 40\)"):
        Preprocess(32)(np.stack([a, a]))
    with pytest.raises(ValueError, match="input_size: expected an integer from 8 to 4096"):
        Preprocess(4)


def test_resize_keeps_the_aspect_ratio_by_padding_symmetrically():
    # 100 rows x 50 columns of ones: padded to 100 x 100 with 25 zero columns each side, i.e. the
    # object spans columns 16-47 of 64 and every row.
    x = ResizeToInput(64)(np.ones((100, 50), np.float32))[0]
    assert tuple(x.shape) == (64, 64)
    assert torch.all(x[:, :15] == 0) and torch.all(x[:, 49:] == 0)
    assert torch.allclose(x[:, 17:47], torch.ones(64, 30))
    assert torch.allclose(x.sum(), torch.tensor(64 * 32.0), rtol=0.02)


def test_resize_crop_takes_the_centred_square():
    img = np.zeros((60, 20), np.float32)
    img[20:40] = 1.0  # the centred 20 x 20 square
    assert torch.allclose(ResizeToInput(20, square="crop")(img), torch.ones(1, 20, 20))


def test_area_resize_of_a_mask_gives_coverage_fractions():
    mask = np.zeros((64, 64), bool)
    mask[8:12, 8:10] = True  # 4 x 2 pixels fall in one 4 x 4 output pixel
    small = ResizeToInput(16, mode="area")(mask)[0]
    assert float(small[2, 2]) == pytest.approx(8 / 16)
    assert float(small.sum()) == pytest.approx(8 / 16)


def test_dicom_path_is_the_import_path_with_slope_and_intercept(tmp_path, pixels):
    ds = mr_slice(pixels, slope=2.5, intercept=-40.0)
    path = tmp_path / "slice.dcm"
    ds.save_as(path, enforce_file_format=True)
    lut = ModalityLUT(2.5, -40.0)(pixels)
    assert lut[0, 0] == pytest.approx(2.5 * float(pixels[0, 0]) - 40.0)
    expected = Preprocess(32)(cached_array(pixels, slope=2.5, intercept=-40.0))
    assert torch.equal(preprocess_dicom(path, 32), expected)
    assert torch.equal(preprocess_dicom(pydicom.dcmread(path), 32), expected)


def test_a_negative_slope_inverts_the_image(pixels):
    # Robust normalisation removes any positive affine scale, so the sign is what shows that
    # the slope is read: slope -1 turns the bright object dark.
    plain = cached_array_from_dicom(mr_slice(pixels))
    negated = cached_array_from_dicom(mr_slice(pixels, slope=-1.0, intercept=5000.0))
    obj = (slice(10, 30), slice(8, 20))
    assert plain[obj].mean() > 0.8 and negated[obj].mean() < 0.2
    assert np.corrcoef(plain.ravel(), negated.ravel())[0, 1] < -0.99


def test_monochrome1_is_inverted_like_the_importer_does(pixels):
    mono2 = cached_array_from_dicom(mr_slice(pixels))
    mono1 = cached_array_from_dicom(mr_slice(pixels, photometric="MONOCHROME1"))
    assert mono1.dtype == np.float16
    np.testing.assert_array_equal(mono1, np.float16(1.0) - mono2)


def test_preprocessing_description_names_the_input_size():
    text = describe_preprocessing(160)
    assert "160x160" in text and "RescaleSlope" in text and "99.5" in text


def batch(seed=0, n=4, size=32):
    return torch.from_numpy(np.random.default_rng(seed).random((n, 1, size, size),
                                                               dtype=np.float32))


def test_augmentation_is_reproducible_from_its_seed():
    x = batch()
    a, b, c = Augment(7)(x), Augment(7)(x), Augment(8)(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert tuple(a.shape) == (4, 1, 32, 32)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_augmentation_draws_new_parameters_on_each_call_and_per_image():
    aug = Augment(1)
    x = batch(n=1).expand(3, 1, 32, 32)
    first, second = aug(x), aug(x)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first[0], first[1])


def test_augmentation_switched_off_is_the_identity_and_flip_is_a_mirror():
    off = dict(rotate_deg=0, translate=0, scale=(1, 1), bias_field=0, gamma=(1, 1),
               intensity_scale=(1, 1), noise_std=0)
    x = batch()
    assert torch.allclose(Augment(0, flip_lr=0.0, **off)(x), x)
    assert torch.allclose(Augment(0, flip_lr=1.0, **off)(x), torch.flip(x, dims=[-1]), atol=1e-5)
    assert torch.allclose(Augment(0, flip_lr=1.0, **off)(x[0]), torch.flip(x[0], dims=[-1]),
                          atol=1e-5)


def test_augmentation_rotation_moves_an_off_centre_object():
    x = torch.zeros(1, 1, 33, 33)
    x[..., 16, 26:30] = 1.0  # right of centre
    off = dict(translate=0, scale=(1, 1), flip_lr=0, bias_field=0, gamma=(1, 1),
               intensity_scale=(1, 1), noise_std=0)
    y = Augment(0, rotate_deg=90, **off)(x)
    rows = torch.nonzero(y[0, 0] > 0.2)[:, 0]
    # Any rotation of more than a few degrees lifts part of the object off its row.
    assert float(rows.float().sub(16).abs().max()) >= 1


def test_augmentation_refuses_bad_settings():
    with pytest.raises(ValueError, match="flip_lr: expected a probability"):
        Augment(flip_lr=2)
    with pytest.raises(ValueError, match=r"gamma: expected \(low, high\)"):
        Augment(gamma=(1.2, 0.8))
    with pytest.raises(ValueError, match="images: expected"):
        Augment(0)(torch.zeros(32, 32))


def test_an_input_already_of_the_right_size_is_copied_not_shared():
    a = np.full((32, 32), 0.5, np.float32)
    x = Preprocess(32)(a)
    x += 1.0
    assert a[0, 0] == 0.5
