"""W5 with Keras on the same machine, for `wgflow bench fit-mnist` beside it: the W3 MLP
trained with model.fit on MNIST (batch 128, Adam 1e-3), epoch wall time by a callback
(on_epoch_begin -> on_epoch_end) and test accuracy after each epoch, one JSON line per run.
Usage: python benches/keras_fit_mnist.py MNIST_DIR [RUNS] [EPOCHS]"""
import gzip, json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras

def idx(path):
    for name in (path, path.replace("-idx", ".idx")):
        for p in (name + ".gz", name):
            if os.path.exists(p):
                data = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
                dims = data[3]
                shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
                return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(path)

d = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
xtr = idx(f"{d}/train-images-idx3-ubyte").reshape(-1, 784).astype("float32") / 255
ytr = idx(f"{d}/train-labels-idx1-ubyte").astype("int32")
xte = idx(f"{d}/t10k-images-idx3-ubyte").reshape(-1, 784).astype("float32") / 255
yte = idx(f"{d}/t10k-labels-idx1-ubyte").astype("int32")

class Timer(keras.callbacks.Callback):
    def __init__(self):
        self.ms, self.acc = [], []
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.ms.append((time.perf_counter() - self.t) * 1e3)
        self.acc.append(float(self.model.evaluate(xte, yte, batch_size=1000, verbose=0)[1]))

for seed in range(1, runs + 1):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                          keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
    m.compile(keras.optimizers.Adam(1e-3),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    t = Timer()
    m.fit(xtr, ytr, batch_size=128, epochs=epochs, verbose=0, callbacks=[t])
    print(json.dumps({"workload": "W5", "variant": "keras fit", "peer": f"keras {keras.__version__}",
                      "seed": seed, "epoch_ms": [round(x, 1) for x in t.ms],
                      "test_accuracy": [round(a, 4) for a in t.acc]}))
