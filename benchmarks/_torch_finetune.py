"""The PyTorch side of `benchmarks/gpu_finetune.py`: torchvision's MobileNetV2 trained on the same
uint8 batches, with the same augmentation and precision, images/s per phase.

What users run instead of Keras: torchvision's `mobilenet_v2` (random initialisation here, as on
the Keras side: weights do not change the speed), channels-last memory format, automatic mixed
precision (`torch.autocast` in bfloat16, or float16 with a `GradScaler`), and `torch.compile`
when this torch has it. Each step moves a uint8 NHWC batch to the device and, there, draws the
flip (p = 1/2), rotation (U(+-2 pi rotation)) and zoom (U(1 +- zoom)) of
`kerasopt.layers.FlipRotateZoom` as one `affine_grid` + `grid_sample` (bilinear, reflected
borders), scales to [-1, 1] (MobileNetV2's x / 127.5 - 1) and trains. As on the Keras side the
backbone's BatchNormalization layers stay in inference mode; the head phase trains the classifier
on the frozen backbone, the full fine-tune every weight. Timing: `epochs` epochs of `steps`
steps, the device synchronised at each epoch's end; the first epoch (compilation, autotuning) is
reported apart, images/s is the median of the later ones.
"""

import math
import statistics
import time

POLICY_DTYPES = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16", "float32": None}


def available():
    """None when torch and torchvision import, else the reason the torch side is skipped."""
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as error:
        return f"{error.name or 'torch'} is not installed"
    return None


def versions():
    import torch
    import torchvision

    return {"torch": torch.__version__, "torchvision": torchvision.__version__}


def _augment(torch, x, rotation, zoom, generator):
    """uint8 NHWC on the device -> float NCHW in [0, 255], flipped, rotated, zoomed."""
    batch = x.shape[0]
    x = x.permute(0, 3, 1, 2).float()

    def uniform(low, high):
        return low + (high - low) * torch.rand(batch, device=x.device, generator=generator)

    sign = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    angle = uniform(-2 * math.pi * rotation, 2 * math.pi * rotation)
    scale = uniform(1 - zoom, 1 + zoom)
    cos, sin, zero = scale * torch.cos(angle), scale * torch.sin(angle), torch.zeros_like(angle)
    theta = torch.stack(
        [torch.stack([sign * cos, -sin, zero], 1), torch.stack([sign * sin, cos, zero], 1)], 1
    )
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def throughput(
    batches, policy, steps, epochs, n_classes=2, compile_model=True, augment=(0.05, 0.1)
):
    """{"head": ..., "finetune": ..., settings}: images/s of the two phases on torch's device.

    `batches`: a list of (uint8 NHWC images, int labels) NumPy pairs, cycled.
    """
    import torch
    import torchvision

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = POLICY_DTYPES[policy]
    amp_dtype = getattr(torch, dtype) if dtype else None
    torch.manual_seed(0)
    generator = torch.Generator(device=device)
    generator.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=n_classes)
    model = model.to(device, memory_format=torch.channels_last)
    compiled = hasattr(torch, "compile") and compile_model
    forward = torch.compile(model) if compiled else model
    host = [
        (
            torch.from_numpy(x).pin_memory() if device.type == "cuda" else torch.from_numpy(x),
            torch.from_numpy(y.astype("int64")),
        )
        for x, y in batches
    ]
    loss_fn = torch.nn.CrossEntropyLoss()
    rotation, zoom = augment

    def run_phase(parameters, learning_rate):
        optimizer = torch.optim.Adam(parameters, lr=learning_rate)
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == "float16")
        times, images = [], steps * batches[0][0].shape[0]
        for _ in range(epochs):
            start = time.perf_counter()
            for step in range(steps):
                x, y = host[step % len(host)]
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                x = _augment(torch, x, rotation, zoom, generator) / 127.5 - 1.0
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = loss_fn(forward(x), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        steady = times[1:] or times
        return {
            "first_epoch_s": round(times[0], 3),
            "epoch_s": [round(t, 4) for t in times],
            "images_per_second": round(images / statistics.median(steady), 1),
        }

    model.train()
    model.features.eval()  # BatchNormalization on its moving statistics, as on the Keras side
    for parameter in model.features.parameters():
        parameter.requires_grad_(False)
    head = run_phase(model.classifier.parameters(), 1e-3)
    for parameter in model.features.parameters():
        parameter.requires_grad_(True)
    finetune = run_phase([p for p in model.parameters() if p.requires_grad], 1e-4)
    return {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "policy": policy,
        "autocast_dtype": dtype,
        "channels_last": True,
        "torch_compile": compiled,
        "weights": "random initialisation",
        "head": head,
        "finetune": finetune,
    }
