import pytest
import torch

from genassist.mllm.image_tokens import IMAGE_TOKEN_INDEX, splice_image_features


def test_splice_places_features_and_maps_positions():
    embed = torch.nn.Embedding(10, 4)
    ids = torch.tensor([1, 2, IMAGE_TOKEN_INDEX, 3, 4])
    image = torch.full((5, 4), 7.0)
    embeds, index_map = splice_image_features(ids, embed, [image])
    assert embeds.shape == (4 + 5, 4)
    assert torch.equal(embeds[2:7], image)
    assert torch.equal(embeds[7], embed.weight[3])
    assert index_map.tolist() == [0, 1, 2, 7, 8]
    # a token after the image is found at its mapped position
    assert torch.equal(embeds[index_map[4]], embed.weight[4])


def test_two_images_and_count_mismatch():
    embed = torch.nn.Embedding(10, 2)
    ids = torch.tensor([IMAGE_TOKEN_INDEX, 5, IMAGE_TOKEN_INDEX, 6])
    a, b = torch.ones(3, 2), torch.zeros(2, 2)
    embeds, index_map = splice_image_features(ids, embed, [a, b])
    assert embeds.shape[0] == 3 + 1 + 2 + 1
    assert index_map.tolist() == [0, 3, 4, 6]
    with pytest.raises(ValueError, match="2 image placeholders but 1"):
        splice_image_features(ids, embed, [a])
