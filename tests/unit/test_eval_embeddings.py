"""CLIP-I, CLIP-T and DINO with tiny random-weight models saved in local folders (the real on-disk
formats), checked against the models' own forward; a missing folder gives an error naming it."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from genassist.evaluation.cli import main
from genassist.evaluation.embedding_metrics import ClipScorer, DinoScorer
from harness import host
from harness.eval_datasets import magicbrush


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel

    folder = tmp_path_factory.mktemp("clip")
    config = CLIPConfig(text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                     "num_attention_heads": 2, "vocab_size": 49408, "max_position_embeddings": 77},
                        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                        projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(str(folder))
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(host.comfy_dir() / "comfy" / "sd1_tokenizer" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def dino_folder(tmp_path_factory):
    from transformers import ViTConfig, ViTModel

    folder = tmp_path_factory.mktemp("dino")
    torch.manual_seed(1)
    ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                       image_size=32, patch_size=8)).eval().save_pretrained(str(folder))
    return folder


def noise(seed: int, size=(32, 32)) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 255, (*size[::-1], 3), dtype=np.uint8))


def clip_pixels(image: Image.Image) -> torch.Tensor:
    """CLIP normalisation of an image already at the input size (no resize or crop to differ on)."""
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073))
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711))
    return ((torch.from_numpy(np.asarray(image, np.float32) / 255) - mean) / std).permute(2, 0, 1)[None]


def test_clip_i_and_clip_t_match_the_models_own_embeddings(clip_folder):
    from transformers import AutoTokenizer, CLIPModel

    scorer = ClipScorer(clip_folder)
    a, b = noise(1), noise(2)
    model = CLIPModel.from_pretrained(str(clip_folder)).eval()
    ids = AutoTokenizer.from_pretrained(str(clip_folder))(["a red car"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=torch.cat([clip_pixels(a), clip_pixels(b)]))
    images, text = out.image_embeds, out.text_embeds  # both L2-normalised by CLIPModel
    assert scorer.clip_i(a, a) == pytest.approx(1.0)
    assert scorer.clip_i(a, b) == pytest.approx(float(images[0] @ images[1]), abs=1e-5)
    assert scorer.clip_t(a, "a red car") == pytest.approx(float(images[0] @ text[0]), abs=1e-5)
    embedded = scorer.image_embedding(b)  # what scoring a turn passes to both, computed once
    assert scorer.clip_i(embedded, a) == scorer.clip_i(b, a)
    assert scorer.clip_t(embedded, "a red car") == pytest.approx(float(images[1] @ text[0]), abs=1e-5)


def test_clip_resizes_and_centre_crops_other_sizes(clip_folder):
    scorer = ClipScorer(clip_folder)
    wide = noise(3, (96, 64))
    cropped = wide.resize((48, 32), Image.BICUBIC).crop((8, 0, 40, 32))  # short side 32, centre 32x32
    assert scorer.clip_i(wide, cropped) == pytest.approx(1.0, abs=1e-6)


def test_dino_is_the_cosine_of_the_cls_features(dino_folder):
    from transformers import ViTModel

    scorer = DinoScorer(dino_folder)
    a, b = noise(4, (37, 37)), noise(5, (37, 37))  # resized to 37 (= 32 * 256 / 224) then cropped to 32
    assert scorer.dino(a, a) == pytest.approx(1.0)
    model = ViTModel.from_pretrained(str(dino_folder)).eval()
    mean, std = torch.tensor((0.485, 0.456, 0.406)), torch.tensor((0.229, 0.224, 0.225))
    pixels = [((torch.from_numpy(np.asarray(x.crop((2, 2, 34, 34)), np.float32) / 255) - mean) / std)
              .permute(2, 0, 1)[None] for x in (a, b)]
    with torch.no_grad():
        cls = [model(pixel_values=p).last_hidden_state[0, 0] for p in pixels]
    expected = float(torch.nn.functional.cosine_similarity(cls[0], cls[1], dim=0))
    assert scorer.dino(a, b) == pytest.approx(expected, abs=1e-5) and expected < 0.9999


@pytest.mark.parametrize("kind,scorer", [("clip", ClipScorer), ("dino", DinoScorer)])
def test_a_missing_model_folder_is_named_with_the_command_to_fill_it(tmp_path, kind, scorer):
    with pytest.raises(FileNotFoundError) as err:
        scorer(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value) and "huggingface-cli download" in str(err.value)


def test_score_magicbrush_with_model_folders(tmp_path, clip_folder, dino_folder, capsys):
    root = magicbrush(tmp_path / "mb", {"7": 1}, captions={"7": {"7-output1.png": "a red car"}})
    pred = tmp_path / "pred"
    pred.mkdir()
    shutil.copy(root / "images" / "7" / "7-output1.png", pred / "7_1.png")  # the target itself
    assert main(["score", "magicbrush", "--data", str(root), "--predictions", str(pred), "--out",
                 str(tmp_path / "out"), "--clip", str(clip_folder), "--dino", str(dino_folder)]) == 0
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (result["L1"], result["L2"]) == (0.0, 0.0)
    assert result["CLIP-I"] == pytest.approx(1.0) and result["DINO"] == pytest.approx(1.0)
    assert -1 <= result["CLIP-T"] <= 1 and result["CLIP-T count"] == 1
    assert main(["score", "magicbrush", "--data", str(root), "--predictions", str(pred), "--out",
                 str(tmp_path / "o2"), "--clip", str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'}" in capsys.readouterr().err
