"""L = L_diff + s · L_cls: each term recomputed independently, the semi-supervised buffer, gradients kept off the
decoder."""

import pytest
import torch
import torch.nn.functional as F

from jointdiff.config import load_config
from jointdiff.diffusion import GaussianDiffusion, make_beta_schedule
from jointdiff.model import build_model
from jointdiff.data.masking import known_labels
from jointdiff.train.joint_loss import ClassifierRows, joint_loss
from jointdiff.train.labelled_buffer import LabelledBuffer

torch.set_num_threads(1)  # tiny models on a shared 2-core CPU: extra threads cost more than they save

DIFFUSION = GaussianDiffusion(make_beta_schedule("linear", 50))


def tiny_model(flags=""):
    torch.manual_seed(0)
    cfg = load_config(flags="--dataset digits --num_channels 32 --num_res_blocks 1 --dropout 0 "
                            "--classifier_dropout 0 --train_with_classifier True " + flags)
    return build_model(cfg), cfg


def expected_diffusion_term(model, x0, seed):
    """Replay the loss's draws: t first, then the noise."""
    torch.manual_seed(seed)
    t = DIFFUSION.sample_timesteps(x0.shape[0], "cpu")
    noise = torch.randn_like(x0)
    x_t = DIFFUSION.q_sample(x0, t, noise)
    return F.mse_loss(model(x_t, t), noise), x_t, t


def run(model, x0, y, seed=1, **kwargs):
    options = {"scaling": 0.5, "head_sees_x_t": False, "multi_label": False, **kwargs}
    torch.manual_seed(seed)
    return joint_loss(model, DIFFUSION, x0, y, **options)


def test_cross_entropy_and_scaling_enter_the_loss():
    model, _ = tiny_model()
    x0, y = torch.rand(6, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3, 4, 5])
    out = run(model, x0, y, scaling=0.5)
    l_diff, _, _ = expected_diffusion_term(model, x0, seed=1)
    l_cls = F.cross_entropy(model.classify(x0, torch.zeros(6, dtype=torch.long)), y)
    torch.testing.assert_close(out["diffusion"], l_diff)
    torch.testing.assert_close(out["classifier"], l_cls)
    torch.testing.assert_close(out["loss"], l_diff + 0.5 * l_cls)
    assert out["classifier"].item() > 1.0  # an untrained 10-way classifier
    assert not out["accuracy"].requires_grad and 0 <= out["accuracy"].item() <= 1
    assert out["labelled"].item() == 6
    torch.testing.assert_close(run(model, x0, y, scaling=0.0)["loss"], l_diff)


def test_given_t_and_noise_are_used():
    model, _ = tiny_model()
    x0, y = torch.rand(3, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2])
    t, noise = torch.tensor([0, 20, 49]), torch.randn(3, 1, 16, 16)
    out = run(model, x0, y, t=t, noise=noise, head_sees_x_t=True)
    x_t = DIFFUSION.q_sample(x0, t, noise)
    torch.testing.assert_close(out["diffusion"], F.mse_loss(model(x_t, t), noise))
    torch.testing.assert_close(out["classifier"], F.cross_entropy(model.classify(x_t, t), y))


def test_head_sees_x_t_at_t():
    model, _ = tiny_model()
    x0, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([1, 1, 7, 3])
    out = run(model, x0, y, head_sees_x_t=True)
    _, x_t, t = expected_diffusion_term(model, x0, seed=1)
    torch.testing.assert_close(out["classifier"], F.cross_entropy(model.classify(x_t, t), y))


def test_multi_label_uses_bce_over_attributes():
    model, _ = tiny_model("--num_classes 5")
    x0 = torch.rand(4, 1, 16, 16) * 2 - 1
    y = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 1, 1], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=torch.float32)
    out = run(model, x0, y, multi_label=True)
    logits = model.classify(x0, torch.zeros(4, dtype=torch.long))
    manual = -(y * F.logsigmoid(logits) + (1 - y) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(out["classifier"], manual)


def buffered_step(model, buffer, x0, y, indices):
    """One global batch through the buffer on one rank: the joint loss with its classifier term."""
    taken = buffer.step(x0, y, indices, known_labels(y), slice(0, len(y)), torch.device("cpu"))
    rows = ClassifierRows() if taken is None else ClassifierRows(taken[0], taken[1], 1 / taken[2])
    return run(model, x0, y, buffered=rows)


def test_the_semi_supervised_buffer_takes_no_classifier_step_until_a_batch_is_full():
    """The authors' buffer: batches of 6 with 2 labelled rows give no classifier step (loss 0, zero head
    gradients) until 3 batches have brought 6 labelled images; then one step on exactly those 6."""
    model, _ = tiny_model()
    buffer = LabelledBuffer()
    batches = [(torch.rand(6, 1, 16, 16) * 2 - 1, torch.tensor([c, -1, -1, c + 1, -1, -1])) for c in (0, 3, 6)]
    for step, (x0, y) in enumerate(batches[:2]):
        model.zero_grad()
        out = buffered_step(model, buffer, x0, y, torch.arange(6) + 6 * step)
        out["loss"].backward()
        assert out["classifier"].item() == 0 and out["labelled"].item() == 0
        assert all(p.grad is not None and not p.grad.any() for p in model.head.parameters())
    assert len(buffer) == 4
    assert buffer.indices.tolist() == [0, 3, 6, 9] and buffer.positions.tolist() == [0, 3, 0, 3]
    x0, y = batches[2]
    out = buffered_step(model, buffer, x0, y, torch.arange(6) + 12)
    labelled_x = torch.cat([b[0][b[1] >= 0] for b in batches])
    labelled_y = torch.cat([b[1][b[1] >= 0] for b in batches])
    expected = F.cross_entropy(model.classify(labelled_x, torch.zeros(6, dtype=torch.long)), labelled_y)
    torch.testing.assert_close(out["classifier"], expected)
    assert out["labelled"].item() == 6 and len(buffer) == 0 and buffer.images is None


def test_the_buffer_treats_a_multi_label_row_with_any_hidden_attribute_as_unlabelled():
    buffer = LabelledBuffer()
    x0 = torch.rand(4, 1, 16, 16) * 2 - 1
    attrs = torch.tensor([[1, 0, 1], [1, -1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.float32)
    assert buffer.step(x0, attrs, torch.arange(4), known_labels(attrs), slice(0, 4), torch.device("cpu")) is None
    assert len(buffer) == 3 and torch.equal(buffer.labels, attrs[[0, 2, 3]])


def test_a_rank_keeps_its_own_rows_and_the_global_count():
    """Rank 1 of 2 (rows 2-3 of a global batch of 4) buffers only its labelled row but counts both ranks'."""
    buffer = LabelledBuffer()
    x0, y_global = torch.rand(4, 1, 16, 16), torch.tensor([5, -1, -1, 7])
    assert buffer.step(x0[2:], y_global[2:], torch.arange(10, 14), y_global >= 0, slice(2, 4),
                       torch.device("cpu")) is None
    assert len(buffer) == 2 and buffer.labels.tolist() == [7] and torch.equal(buffer.images, x0[3:])
    images, labels, total = buffer.step(x0[2:], y_global[2:], torch.arange(20, 24), y_global >= 0, slice(2, 4),
                                        torch.device("cpu"))
    assert total == 4 and labels.tolist() == [7, 7] and len(buffer) == 0


def test_a_saved_buffer_gives_each_rank_its_rows_back_from_the_dataset():
    from jointdiff.data.datasets import InMemoryDataset
    images = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8)
    dataset = InMemoryDataset(images, torch.arange(10))
    saved = LabelledBuffer()
    saved.step(*dataset.get_batch(torch.tensor([4, 8, 1, 2])), torch.tensor([4, 8, 1, 2]),
               torch.tensor([True, False, False, True]), slice(0, 4), torch.device("cpu"))
    for rank_rows, kept in ((slice(0, 2), [4]), (slice(2, 4), [2])):
        resumed = LabelledBuffer()
        resumed.load_state_dict(saved.state_dict(), dataset, rank_rows, torch.device("cpu"))
        assert len(resumed) == 2 and resumed.labels.tolist() == kept
        torch.testing.assert_close(resumed.images, dataset.get_batch(torch.tensor(kept))[0])


def test_no_labels_gives_zero_classifier_loss_with_a_graph():
    model, _ = tiny_model()
    x0 = torch.rand(4, 1, 16, 16) * 2 - 1
    out = run(model, x0, torch.full((4,), -1), buffered=ClassifierRows())
    assert out["classifier"].item() == 0
    assert out["accuracy"].item() == 0 and out["labelled"].item() == 0
    out["loss"].backward()
    assert all(p.grad is not None for p in model.head.parameters())


def test_an_empty_share_of_a_classifier_step_keeps_the_graph():
    """A rank may hold none of a classifier step's rows: its term is 0, finite, with every head parameter in it."""
    model, _ = tiny_model()
    model.head.eval()  # BatchNorm1d of one process refuses an empty batch; across ranks it has the others' rows
    x0, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.full((4,), -1)
    empty = ClassifierRows(torch.empty(0, 1, 16, 16), torch.empty(0, dtype=torch.long), 0.5)
    out = run(model, x0, y, buffered=empty)
    assert out["classifier"].item() == 0 and out["accuracy"].item() == 0 and out["labelled"].item() == 0
    out["loss"].backward()
    assert all(p.grad is not None for p in model.head.parameters())


def test_head_sees_the_augmented_image_noised_like_x_t():
    """With train_noised_classifier the head reads q(x_t | augment(x0)) with the denoising pass's t and noise."""
    model, _ = tiny_model()
    x0, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3])
    t, noise = torch.tensor([3, 10, 25, 49]), torch.randn(4, 1, 16, 16)

    def flip(x, targets):
        return x.flip(-1), targets

    out = run(model, x0, y, t=t, noise=noise, head_sees_x_t=True, augment=flip)
    logits = model.classify(DIFFUSION.q_sample(x0.flip(-1), t, noise), t)
    torch.testing.assert_close(out["classifier"], F.cross_entropy(logits, y))


def test_augmented_soft_targets_are_used():
    model, _ = tiny_model()
    x0, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3])

    def swap_halves(x, targets):  # a fixed MixUp: λ = 0.25 with the partner two rows away
        partner = torch.tensor([2, 3, 0, 1])
        return 0.75 * x + 0.25 * x[partner], 0.75 * targets + 0.25 * targets[partner]

    out = run(model, x0, y, augment=swap_halves)
    x_aug, soft = swap_halves(x0, F.one_hot(y, 10).float())
    logits = model.classify(x_aug, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(out["classifier"], -(soft * F.log_softmax(logits, 1)).sum(1).mean())


def test_classifier_gradients_reach_the_encoder_and_not_the_decoder():
    model, _ = tiny_model()
    for m in model.unet.modules():  # random where ADM starts at zero, so a zero gradient is meaningful
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and m.weight.abs().max() == 0:
            torch.nn.init.normal_(m.weight, std=0.05)
    x0, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3])
    run(model, x0, y)["classifier"].backward()
    unet = model.unet
    for encoder_part in (unet.time_embed, unet.input_blocks, unet.middle_block):
        assert any(p.grad is not None and p.grad.abs().max() > 0 for p in encoder_part.parameters())
    for decoder_part in (unet.output_blocks, unet.out):
        assert all(p.grad is None or p.grad.abs().max() == 0 for p in decoder_part.parameters())
    # the diffusion term does train the decoder
    model.zero_grad(set_to_none=True)
    run(model, x0, y)["diffusion"].backward()
    assert all(p.grad is not None for p in unet.out.parameters())


def test_plain_diffusion_baseline_has_no_classifier_term():
    torch.manual_seed(0)
    model = build_model(load_config(flags="--dataset digits --num_channels 32 --num_res_blocks 1 --dropout 0"))
    x0 = torch.rand(3, 1, 16, 16) * 2 - 1
    out = run(model, x0, torch.tensor([1, 2, 3]))
    assert out["classifier"].item() == 0
    torch.testing.assert_close(out["loss"], expected_diffusion_term(model, x0, seed=1)[0])


@pytest.mark.parametrize("noised", [False, True])
def test_paper_augmentation_runs_end_to_end(noised):
    from jointdiff.train.augment import build_augmentation

    model, cfg = tiny_model("--classifier_augmentation paper")
    x0, y = torch.rand(8, 1, 16, 16) * 2 - 1, torch.randint(0, 10, (8,))
    out = run(model, x0, y, head_sees_x_t=noised, augment=build_augmentation(cfg))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])


def test_a_buffer_saved_as_one_process_images_is_refused_by_name():
    with pytest.raises(ValueError, match="dataset indices"):
        LabelledBuffer().load_state_dict({"images": None, "targets": None}, None, slice(0, 4), torch.device("cpu"))
