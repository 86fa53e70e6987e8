#!/usr/bin/env python3
"""TensorFlow's tf.data on the two input pipelines of `wgflow bench input-pipeline`.

(a) MNIST from memory -> map(cast to float32 / 255) -> shuffle(10000) -> batch(128) -> prefetch
(b) MNIST written as tf.train.Examples (image: 784 raw bytes, label: int64) to a TFRecord
    file -> TFRecordDataset -> map(parse_single_example + decode_raw) -> batch(128) -> prefetch

each with 1 and 2 threads: the dataset's private thread pool has that many threads, and
map runs sequentially (1) or with num_parallel_calls=2 (2), deterministic order. Every
timed repetition is one full pass over the 60,000 training images, after one untimed pass;
the median is reported in samples per second, one JSON line per figure like wgflow's.

Each pipeline is consumed two ways: a Python `for` loop over the dataset (as the seeds do)
and a loop inside a tf.function (TensorFlow's fastest way, no Python per batch). Extra
figure: (b) with TensorFlow's vectorised parse, batch(128) before map(parse_example).

Setup: python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
Run:   /tmp/tfvenv/bin/python benches/tf_input_pipeline.py [MNIST_DIR] [--reps N]
MNIST_DIR (default $WGFLOW_DATASETS/mnist) holds the gzipped IDX files, named
train-images-idx3-ubyte.gz or train-images.idx3-ubyte.gz.
"""

import argparse
import gzip
import json
import os
import statistics
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

BATCH = 128


def read_idx(dirname, stem):
    for name in (stem.replace(".idx", "-idx"), stem):
        for suffix in (".gz", ""):
            path = os.path.join(dirname, name + suffix)
            if os.path.exists(path):
                opener = gzip.open if suffix else open
                with opener(path, "rb") as f:
                    data = f.read()
                rank = data[3]
                dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
                return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)
    raise FileNotFoundError(f"{stem}(.gz) not found in {dirname}")


def options(threads):
    o = tf.data.Options()
    o.threading.private_threadpool_size = threads
    o.threading.max_intra_op_parallelism = 1
    o.deterministic = True
    return o


def calls(threads):
    return None if threads == 1 else threads


def memory_pipeline(x, y, threads):
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, b), num_parallel_calls=calls(threads))
    ds = ds.shuffle(10000, seed=1, reshuffle_each_iteration=True)
    return ds.batch(BATCH).prefetch(tf.data.AUTOTUNE).with_options(options(threads))


SPEC = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}


def parse_one(record):
    p = tf.io.parse_single_example(record, SPEC)
    return tf.reshape(tf.io.decode_raw(p["image"], tf.uint8), [28, 28]), p["label"]


def parse_batch(records):
    p = tf.io.parse_example(records, SPEC)
    return tf.reshape(tf.io.decode_raw(p["image"], tf.uint8), [-1, 28, 28]), p["label"]


def tfrecord_pipeline(path, threads):
    ds = tf.data.TFRecordDataset([path]).map(parse_one, num_parallel_calls=calls(threads))
    return ds.batch(BATCH).prefetch(tf.data.AUTOTUNE).with_options(options(threads))


def tfrecord_vectorised(path, threads):
    ds = tf.data.TFRecordDataset([path]).batch(BATCH)
    ds = ds.map(parse_batch, num_parallel_calls=calls(threads))
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options(threads))


def python_loop(ds):
    n = 0
    for a, _ in ds:
        n += int(a.shape[0])
    return n


@tf.function
def graph_loop(ds):
    n = tf.constant(0)
    for a, _ in ds:
        n += tf.shape(a)[0]
    return n


def measure(ds, consume, samples, reps):
    if int(consume(ds)) != samples:  # untimed pass (and tracing)
        raise RuntimeError("a pass yielded the wrong number of samples")
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        got = int(consume(ds))
        times.append((time.perf_counter() - start) * 1e3)
        if got != samples:
            raise RuntimeError(f"a pass yielded {got} samples, expected {samples}")
    times.sort()
    return times


def line(variant, times, samples):
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "workload": "input-pipeline",
                "variant": variant,
                "framework": f"tensorflow {tf.__version__}",
                "median_ms": round(median, 4),
                "min_ms": round(times[0], 4),
                "max_ms": round(times[-1], 4),
                "reps": len(times),
                "samples": samples,
                "samples_per_s": round(samples / (median * 1e-3)),
            }
        ),
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser()
    default_dir = os.path.join(os.environ.get("WGFLOW_DATASETS", "."), "mnist")
    ap.add_argument("mnist", nargs="?", default=default_dir)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    x = read_idx(args.mnist, "train-images.idx3-ubyte")
    y = read_idx(args.mnist, "train-labels.idx1-ubyte").astype(np.int32)
    n = len(y)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mnist.tfrecord")
        with tf.io.TFRecordWriter(path) as w:
            for img, label in zip(x, y):
                ex = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()])),
                            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                        }
                    )
                )
                w.write(ex.SerializeToString())
        for k in [int(t) for t in args.threads.split(",")]:
            for name, make in [
                ("memory map(normalise) shuffle batch(128) prefetch", lambda: memory_pipeline(x, y, k)),
                ("tfrecord parse_single_example batch(128) prefetch", lambda: tfrecord_pipeline(path, k)),
                ("tfrecord batch(128) parse_example prefetch (vectorised)", lambda: tfrecord_vectorised(path, k)),
            ]:
                for how, consume in [("python for", python_loop), ("tf.function loop", graph_loop)]:
                    times = measure(make(), consume, n, args.reps)
                    line(f"{name}, threads={k}, {how}", times, n)


if __name__ == "__main__":
    main()
