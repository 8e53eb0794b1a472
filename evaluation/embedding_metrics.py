"""CLIP-I, DINO and CLIP-T as MagicBrush's evaluation computes them, with models from folders the user
fills (never downloaded here): CLIP-I is the cosine similarity of the CLIP image embeddings of prediction
and target (MagicBrush uses OpenAI CLIP ViT-B/32 = openai/clip-vit-base-patch32), DINO the cosine of the
DINO ViT-S/16 CLS features (facebook/dino-vits16; resize 256 bicubic, centre crop 224, ImageNet
normalisation), CLIP-T the cosine of the prediction's CLIP image embedding and the CLIP text embedding of
the target's caption. CLIP's own preprocessing (resize the short side to the input size, bicubic; centre
crop; CLIP normalisation) is the one the pack's CLIP vision towers use, mllm.clip_vision.prepare_image."""

from pathlib import Path

import torch
from PIL import Image

from ..mllm.clip_vision import prepare_image

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FETCH = {"clip": "openai/clip-vit-base-patch32", "dino": "facebook/dino-vits16"}


def check_folder(folder, kind: str) -> Path:
    folder = Path(folder)
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
    if not folder.is_dir() or not (folder / "config.json").is_file() or not has_weights:
        raise FileNotFoundError(
            f"the {kind.upper()} model folder {folder} is missing or incomplete (it needs config.json and the "
            f"weights): fill it with `huggingface-cli download {FETCH[kind]} --local-dir {folder}`")
    return folder


def _dino_pixels(image: Image.Image, short_side: int, crop: int) -> torch.Tensor:
    """DINO's evaluation transform: the short side to short_side (bicubic), a centre crop of crop (smaller, unlike
    CLIP's), ImageNet normalisation (prepare_image on the crop only normalises: it is at its size already)."""
    image = image.convert("RGB")
    w, h = image.size
    scale = short_side / min(w, h)
    image = image.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), Image.BICUBIC)
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    image = image.crop((left, top, left + crop, top + crop))
    return prepare_image(image, crop, "crop", IMAGENET_MEAN, IMAGENET_STD)[None]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten()[None].double(), b.flatten()[None].double()))


class ClipScorer:
    def __init__(self, folder, device: str = "cpu"):
        from transformers import AutoTokenizer, CLIPModel

        folder = check_folder(folder, "clip")
        self.model = CLIPModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        self.device = device
        self.size = self.model.config.vision_config.image_size
        self.folder = folder
        self._tokenizer_factory = lambda: AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._tokenizer = None

    @torch.inference_mode()
    def image_embedding(self, image: Image.Image) -> torch.Tensor:
        pixels = prepare_image(image, self.size)[None].to(self.device)
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output
        return self.model.visual_projection(pooled).float().cpu()

    @torch.inference_mode()
    def text_embedding(self, text: str) -> torch.Tensor:
        if self._tokenizer is None:
            try:
                self._tokenizer = self._tokenizer_factory()
            except (OSError, ValueError) as err:
                raise FileNotFoundError(f"the CLIP folder {self.folder} has no tokenizer files (CLIP-T needs them): "
                                        f"fill it with `huggingface-cli download {FETCH['clip']} "
                                        f"--local-dir {self.folder}` ({err})") from None
        ids = self._tokenizer(text, truncation=True, max_length=77, return_tensors="pt")["input_ids"]
        pooled = self.model.text_model(input_ids=ids.to(self.device)).pooler_output
        return self.model.text_projection(pooled).float().cpu()

    def clip_i(self, prediction: Image.Image | torch.Tensor, target: Image.Image) -> float:
        """prediction: an image, or its image_embedding (computed once when CLIP-T scores it too)."""
        return cosine(self._embedded(prediction), self.image_embedding(target))

    def clip_t(self, prediction: Image.Image | torch.Tensor, caption: str) -> float:
        return cosine(self._embedded(prediction), self.text_embedding(caption))

    def _embedded(self, image: Image.Image | torch.Tensor) -> torch.Tensor:
        return image if isinstance(image, torch.Tensor) else self.image_embedding(image)


class DinoScorer:
    def __init__(self, folder, device: str = "cpu"):
        from transformers import AutoModel

        folder = check_folder(folder, "dino")
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        self.device = device
        self.crop = getattr(self.model.config, "image_size", 224)
        self.resize = round(self.crop * 256 / 224)

    @torch.inference_mode()
    def features(self, image: Image.Image) -> torch.Tensor:
        pixels = _dino_pixels(image, self.resize, self.crop).to(self.device)
        return self.model(pixel_values=pixels).last_hidden_state[:, 0].float().cpu()  # the normed CLS token

    def dino(self, prediction: Image.Image, target: Image.Image) -> float:
        return cosine(self.features(prediction), self.features(target))
