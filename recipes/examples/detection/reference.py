"""numpy references of the detection example's ops, for its [[ops.checks]] (`opforge test`).
They compute in the inputs' dtype, in the kernels' order of operations, so that a box on the
edge of the IoU threshold falls the same way."""

import numpy as np


def _bilinear(image, y, x):
    """torchvision's bilinear_interpolate: 0 outside [-1, size], edges clamped."""
    height, width = image.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return image.dtype.type(0)
    y, x = max(y, image.dtype.type(0)), max(x, image.dtype.type(0))
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = image.dtype.type(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = image.dtype.type(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * image[y_low, x_low] + hy * lx * image[y_low, x_high]
            + ly * hx * image[y_high, x_low] + ly * lx * image[y_high, x_high])


def roi_align(x, rois, pooled_height, pooled_width, spatial_scale=1.0, sampling_ratio=0,
              aligned=True):
    t = x.dtype.type
    scale = t(np.float32(spatial_scale))
    offset = t(0.5) if aligned else t(0)
    out = np.zeros((rois.shape[0], x.shape[1], pooled_height, pooled_width), x.dtype)
    for k, roi in enumerate(rois):
        image = int(roi[0])
        x1, y1 = roi[1] * scale - offset, roi[2] * scale - offset
        x2, y2 = roi[3] * scale - offset, roi[4] * scale - offset
        w, h = x2 - x1, y2 - y1
        if not aligned:
            w, h = max(w, t(1)), max(h, t(1))
        bin_h, bin_w = h / t(pooled_height), w / t(pooled_width)
        grid_h = sampling_ratio if sampling_ratio > 0 else int(np.ceil(h / pooled_height))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(np.ceil(w / pooled_width))
        count = max(grid_h * grid_w, 1)
        for c in range(x.shape[1]):
            for ph in range(pooled_height):
                for pw in range(pooled_width):
                    total = t(0)
                    for iy in range(grid_h):
                        yy = y1 + t(ph) * bin_h + (t(iy) + t(0.5)) * bin_h / t(grid_h)
                        for ix in range(grid_w):
                            xx = x1 + t(pw) * bin_w + (t(ix) + t(0.5)) * bin_w / t(grid_w)
                            total += _bilinear(x[image, c], yy, xx)
                    out[k, c, ph, pw] = total / t(count)
    return out


def _iou(a, b):
    """IoU of boxes a and b (x1, y1, x2, y2); a box with x2 < x1 or y2 < y1 has no area."""
    t = a.dtype.type
    zero = t(0)
    area_a = max(a[2] - a[0], zero) * max(a[3] - a[1], zero)
    area_b = max(b[2] - b[0], zero) * max(b[3] - b[1], zero)
    w = max(min(a[2], b[2]) - max(a[0], b[0]), zero)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), zero)
    inter = w * h
    union = area_a + area_b - inter
    return inter / union if union > zero else zero


def nms(boxes, scores, iou_threshold):
    threshold = boxes.dtype.type(np.float32(iou_threshold))
    order = np.argsort(-scores, kind="stable")
    removed = np.zeros(len(boxes), bool)
    keep = []
    for i in order:
        if removed[i]:
            continue
        keep.append(i)
        for j in order:
            if not removed[j] and j != i and _iou(boxes[i], boxes[j]) > threshold:
                removed[j] = True
    return np.array(keep, np.int64)


def pairwise_iou(a, b):
    return np.array([[_iou(p, q) for q in b] for p in a], np.float32).reshape(len(a), len(b))
