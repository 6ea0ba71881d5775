"""Builds the model updates bench/delta.sh measures, with the real ONNX tooling (numpy, onnx).

Usage: make_models.py OUT [SCALE]. Writes OUT/CASE/old/FILE and OUT/CASE/new/FILE for:
  1-last-layer   an MLP classifier (~60 MB of float32 weights) with only its head retrained
  2-insert       the same network with one layer (tensor) inserted in the middle
  3-safetensors  a safetensors checkpoint (~60 MB) with one tensor changed in place
  4-fine-tune    the same network after a full fine-tune: every weight moved a little
Weights are drawn from a normal distribution like trained float32 weights, with a fixed
seed so that every run measures the same files. SCALE (default 1.0) scales the layer width.
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
SCALE = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
WIDTH = int(2048 * SCALE)
CLASSES = 1000
rng = np.random.default_rng(20261201)


def weights(*shape):
    return (rng.standard_normal(shape) * 0.02).astype(np.float32)


def mlp(layers):
    """An ONNX MLP: input [1, WIDTH] -> Gemm+Relu per hidden layer -> Gemm head -> output."""
    nodes, initializers = [], []
    current = 'input'
    for index, (w, b) in enumerate(layers):
        last = index == len(layers) - 1
        initializers += [numpy_helper.from_array(w, f'w{index}'), numpy_helper.from_array(b, f'b{index}')]
        out = 'logits' if last else f'h{index}'
        nodes.append(helper.make_node('Gemm', [current, f'w{index}', f'b{index}'], [out if last else f'g{index}'], transB=1))
        if not last:
            nodes.append(helper.make_node('Relu', [f'g{index}'], [out]))
        current = out
    graph = helper.make_graph(nodes, 'classifier', [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, WIDTH])],
                              [helper.make_tensor_value_info('logits', TensorProto.FLOAT, [1, CLASSES])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='ota-bench')
    onnx.checker.check_model(model)
    return model


def save(model, case, which):
    folder = os.path.join(OUT, case, which)
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, 'model.onnx'))


def save_safetensors(tensors, case, which):
    """The safetensors format: an 8-byte little-endian header length, a JSON header, the data."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = array.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(array.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header['__metadata__'] = {'format': 'pt'}
    encoded = json.dumps(header, separators=(',', ':')).encode()
    encoded += b' ' * (-len(encoded) % 8)
    folder = os.path.join(OUT, case, which)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'model.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


hidden = [(weights(WIDTH, WIDTH), weights(WIDTH)) for _ in range(3)]
head = (weights(CLASSES, WIDTH), weights(CLASSES))
base = mlp(hidden + [head])

# 1: transfer learning, the most common update: only the classifier head is retrained.
save(base, '1-last-layer', 'old')
save(mlp(hidden + [(weights(CLASSES, WIDTH), weights(CLASSES))]), '1-last-layer', 'new')

# 2: one layer (a new tensor) inserted in the middle of the network.
save(base, '2-insert', 'old')
save(mlp(hidden[:2] + [(weights(WIDTH, WIDTH // 2 * 2), weights(WIDTH))] + hidden[2:] + [head]), '2-insert', 'new')

# 3: a checkpoint with one tensor changed in place (same shape and dtype, so the header stays).
tensors = {f'layers.{i}.weight': w for i, (w, _) in enumerate(hidden)} | {'head.weight': head[0], 'head.bias': head[1]}
save_safetensors(tensors, '3-safetensors', 'old')
changed = dict(tensors)
changed['layers.1.weight'] = weights(WIDTH, WIDTH)
save_safetensors(changed, '3-safetensors', 'new')

# 4: a full fine-tune: every weight moves a little, so nearly every byte changes.
save(base, '4-fine-tune', 'old')
tuned = [(w + weights(*w.shape) * 0.05, b + weights(*b.shape) * 0.05) for w, b in hidden + [head]]
save(mlp(tuned), '4-fine-tune', 'new')

for case in sorted(os.listdir(OUT)):
    for which in ('old', 'new'):
        folder = os.path.join(OUT, case, which)
        for name in os.listdir(folder):
            print(f'{case}/{which}/{name}: {os.path.getsize(os.path.join(folder, name))} bytes')
