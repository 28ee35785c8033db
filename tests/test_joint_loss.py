"""L = L_diff + s · L_cls: each term recomputed independently, labels masked, gradients kept off the decoder."""

import pytest
import torch
import torch.nn.functional as F

from jointdiff.config import load_config
from jointdiff.diffusion import GaussianDiffusion, make_beta_schedule
from jointdiff.train.joint_loss import joint_loss
from jointdiff.model import build_model

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
    options = {"scaling": 0.5, "noised_classifier": False, "multi_label": False, **kwargs}
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


def test_all_labelled_shortcut_gives_the_same_terms():
    """all_labelled skips counting labels on the device (a host sync per step); with every label known it must
    change nothing."""
    model, _ = tiny_model()
    x0, y = torch.rand(6, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3, 4, 5])
    counted, shortcut = run(model, x0, y), run(model, x0, y, all_labelled=True)
    for key in ("loss", "diffusion", "classifier", "accuracy", "labelled"):
        torch.testing.assert_close(shortcut[key], counted[key])


def test_given_t_and_noise_are_used():
    model, _ = tiny_model()
    x0, y = torch.rand(3, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2])
    t, noise = torch.tensor([0, 20, 49]), torch.randn(3, 1, 16, 16)
    out = run(model, x0, y, t=t, noise=noise, noised_classifier=True)
    x_t = DIFFUSION.q_sample(x0, t, noise)
    torch.testing.assert_close(out["diffusion"], F.mse_loss(model(x_t, t), noise))
    torch.testing.assert_close(out["classifier"], F.cross_entropy(model.classify(x_t, t), y))


def test_noised_classifier_sees_x_t_at_t():
    model, _ = tiny_model()
    x0, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([1, 1, 7, 3])
    out = run(model, x0, y, noised_classifier=True)
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


def test_unlabelled_rows_are_left_out_of_the_classifier_term():
    model, _ = tiny_model()
    x0 = torch.rand(6, 1, 16, 16) * 2 - 1
    y = torch.tensor([2, -1, 5, -1, 9, 0])
    out = run(model, x0, y)
    keep = y >= 0
    expected = F.cross_entropy(model.classify(x0[keep], torch.zeros(4, dtype=torch.long)), y[keep])
    torch.testing.assert_close(out["classifier"], expected)
    assert out["labelled"].item() == 4
    # multi-label: a row with any -1 is unlabelled
    model, _ = tiny_model("--num_classes 3")
    attrs = torch.tensor([[1, 0, 1], [1, -1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.float32)
    out = run(model, x0[:4], attrs, multi_label=True)
    rows = torch.tensor([0, 2, 3])
    logits = model.classify(x0[rows], torch.zeros(3, dtype=torch.long))
    torch.testing.assert_close(out["classifier"], F.binary_cross_entropy_with_logits(logits, attrs[rows]))


def test_no_labels_gives_zero_classifier_loss_with_a_graph():
    model, _ = tiny_model()
    x0 = torch.rand(4, 1, 16, 16) * 2 - 1
    out = run(model, x0, torch.full((4,), -1))
    assert out["classifier"].item() == 0 and out["classifier"].requires_grad
    assert out["accuracy"].item() == 0 and out["labelled"].item() == 0
    out["loss"].backward()
    assert all(p.grad is not None for p in model.head.parameters())


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
    out = run(model, x0, y, noised_classifier=noised, augment=build_augmentation(cfg))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
