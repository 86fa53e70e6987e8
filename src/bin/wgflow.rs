//! The `wgflow` command-line tool: list devices, run TensorFlow conformance fixtures, and run
//! the peer-benchmark workloads.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use wgflow::conformance::{Outcome, case_dirs, run_case_with};
use wgflow::{Device, Result, Tensor};

#[derive(Parser)]
#[command(
    name = "wgflow",
    version,
    about = "wgflow: a TensorFlow-style ML engine on WebGPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Cpu,
    Wgpu,
    All,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// W1: square f32 matmul, n = 256, 1024, 2048.
    Matmul,
    /// W2: the elementwise chain on 1M floats, eager and traced.
    Elementwise,
    /// W3: the MLP training step (784-512-256-10, batch 128, SGD), eager with a GradientTape and traced.
    MlpStep,
    /// W4: the CNN training step (Keras Sequential, batch 64, Adam) via train_on_batch.
    CnnStep,
    /// W5: Keras fit of the W3 MLP on real MNIST (batch 128, Adam), epoch times and test
    /// accuracy; `--reps` runs (default 1 per 10 reps), `--epochs` epochs each.
    FitMnist,
    /// tf.data input pipelines on MNIST (from memory; from a TFRecord file of Examples), in
    /// samples per second with 1 and 2 map threads. Runs on the host.
    InputPipeline,
}

#[derive(Subcommand)]
enum Command {
    /// List the physical devices (CPU and every wgpu adapter).
    Devices,
    /// Run TensorFlow fixture cases (DIR/<case>/case.json) and compare with TensorFlow's outputs.
    Conformance {
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "all")]
        backend: BackendArg,
        /// Print only failing cases and the summary.
        #[arg(long)]
        quiet: bool,
        /// Also check TensorFlow's gradients (`grad_<input>.npy`) through a GradientTape.
        #[arg(long)]
        grads: bool,
    },
    /// Run a peer-benchmark workload; prints one JSON line per figure.
    Bench {
        #[arg(value_enum)]
        workload: Workload,
        #[arg(long, value_enum, default_value = "all")]
        backend: BackendArg,
        /// Matrix sizes for the matmul workload.
        #[arg(long, value_delimiter = ',', default_values_t = vec![256usize, 1024, 2048])]
        sizes: Vec<usize>,
        /// Timed repetitions (small cases get 5x, as the peers' rules say; input-pipeline
        /// passes over MNIST get 1/2x).
        #[arg(long, default_value_t = 10)]
        reps: usize,
        /// Map threads for the input-pipeline workload.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2])]
        threads: Vec<usize>,
        /// Epochs per fit-mnist run.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// MNIST folder for the input-pipeline and fit-mnist workloads (default: wgflow::datasets' lookup,
        /// $WGFLOW_DATASETS/mnist then ~/.wgflow/datasets/mnist).
        #[arg(long)]
        mnist: Option<PathBuf>,
    },
}

/// The devices a backend choice names; `all` includes wgpu only when an adapter exists.
fn devices(backend: BackendArg) -> Result<Vec<Device>> {
    let mut v = Vec::new();
    if backend != BackendArg::Wgpu {
        v.push(Device::cpu());
    }
    if backend != BackendArg::Cpu {
        match Device::wgpu(0) {
            Ok(d) => v.push(d),
            Err(e) if backend == BackendArg::Wgpu => return Err(e),
            Err(e) => eprintln!("note: no wgpu device ({e}); running on the CPU only"),
        }
    }
    Ok(v)
}

fn json_line(workload: &str, variant: &str, dev: &Device, t: &wgflow::bench::Timing, extra: &str) {
    println!(
        "{{\"workload\":\"{workload}\",\"variant\":\"{variant}\",\"backend\":\"{}\",\"device\":\"{}\",\"median_ms\":{:.4},\"min_ms\":{:.4},\"max_ms\":{:.4},\"reps\":{}{extra}}}",
        if dev.is_cpu() { "cpu" } else { "wgpu" },
        dev.physical_device().description().replace('"', "'"),
        t.median_ms,
        t.min_ms,
        t.max_ms,
        t.reps
    );
}

fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Devices => {
            for p in wgflow::list_physical_devices() {
                println!("{p}  {}", p.description());
                if let Some(l) = p.limits() {
                    println!(
                        "    max_buffer_size={} max_storage_buffer_binding_size={} max_compute_workgroup_storage_size={} max_compute_invocations_per_workgroup={}",
                        l.max_buffer_size,
                        l.max_storage_buffer_binding_size,
                        l.max_compute_workgroup_storage_size,
                        l.max_compute_invocations_per_workgroup
                    );
                }
            }
            println!("default device: {}", wgflow::default_device()?);
            Ok(true)
        }
        Command::Conformance {
            dir,
            backend,
            quiet,
            grads,
        } => {
            let cases = case_dirs(&dir)?;
            let (mut pass, mut fail, mut skipped_grads, mut checked) = (0, 0, 0, 0);
            for dev in devices(backend)? {
                for c in &cases {
                    let r = run_case_with(c, &dev, grads);
                    skipped_grads += r.skipped_grads;
                    checked += r.checked_grads;
                    match &r.outcome {
                        Outcome::Pass => {
                            pass += 1;
                            if !quiet {
                                println!(
                                    "PASS {:<32} {:<14} max_abs={:.3e} max_rel={:.3e}",
                                    r.case, r.device, r.max_abs, r.max_rel
                                );
                            }
                        }
                        Outcome::Fail(msg) => {
                            fail += 1;
                            println!("FAIL {:<32} {:<14} {msg}", r.case, r.device);
                        }
                    }
                }
            }
            if skipped_grads > 0 {
                println!("({skipped_grads} gradient files not checked: pass --grads)");
            }
            if checked > 0 {
                println!("({checked} gradients checked against TensorFlow's)");
            }
            println!("{pass} passed, {fail} failed");
            Ok(fail == 0)
        }
        Command::Bench {
            workload,
            backend,
            sizes,
            reps,
            threads,
            mnist,
            epochs,
        } => {
            if workload == Workload::InputPipeline {
                input_pipeline(mnist, &threads, reps.div_ceil(2))?;
                return Ok(true);
            }
            for dev in devices(backend)? {
                match workload {
                    Workload::Matmul => {
                        for &n in &sizes {
                            let r = if n <= 256 { reps * 5 } else { reps };
                            let t = wgflow::bench::w1_matmul(&dev, n, r)?;
                            let gflops = 2.0 * (n as f64).powi(3) / (t.median_ms * 1e-3) / 1e9;
                            json_line(
                                "W1",
                                &format!("n={n}"),
                                &dev,
                                &t,
                                &format!(",\"gflops\":{gflops:.2}"),
                            );
                        }
                    }
                    Workload::Elementwise => {
                        let t = wgflow::bench::w2_eager(&dev, reps * 5)?;
                        json_line("W2", "eager", &dev, &t, "");
                        let t = wgflow::bench::w2_traced(&dev, reps * 5)?;
                        json_line("W2", "traced function", &dev, &t, "");
                    }
                    Workload::InputPipeline => unreachable!("handled above"),
                    Workload::CnnStep => {
                        let (t, first, last) = wgflow::bench::w4_cnn_step(&dev, reps * 2)?;
                        let extra = format!(",\"loss_first\":{first:.4},\"loss_last\":{last:.4}");
                        json_line("W4", "keras train_on_batch (traced step)", &dev, &t, &extra);
                    }
                    Workload::FitMnist => {
                        fit_mnist(&dev, mnist.clone(), epochs, reps.div_ceil(10))?
                    }
                    Workload::MlpStep => {
                        let (t, first, last) = wgflow::bench::w3_mlp_step(&dev, reps * 3)?;
                        let extra = format!(",\"loss_first\":{first:.4},\"loss_last\":{last:.4}");
                        json_line("W3", "eager GradientTape", &dev, &t, &extra);
                        let (t, first, last) = wgflow::bench::w3_mlp_step_traced(&dev, reps * 3)?;
                        let extra = format!(",\"loss_first\":{first:.4},\"loss_last\":{last:.4}");
                        json_line("W3", "traced function", &dev, &t, &extra);
                    }
                }
            }
            Ok(true)
        }
    }
}

/// W5: `runs` Keras `fit` runs (seeds 1, 2, ...) on MNIST; one JSON line per run with each
/// epoch's wall time and the test accuracy after each epoch.
fn fit_mnist(dev: &Device, mnist: Option<PathBuf>, epochs: usize, runs: usize) -> Result<()> {
    let (train, test) = match mnist {
        Some(dir) => wgflow::datasets::mnist::load_data_from(dir)?,
        None => wgflow::datasets::mnist::load_data()?,
    };
    let tensors = |(images, labels): &(ndarray::Array3<u8>, ndarray::Array1<u8>)| -> Result<(Tensor, Tensor)> {
        let n = labels.len();
        let x: Vec<f32> = images.iter().map(|&p| p as f32 / 255.0).collect();
        let y: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
        Ok((Tensor::from_vec(x, [n, 784])?, Tensor::from_vec(y, [n])?))
    };
    let ((xtr, ytr), (xte, yte)) = wgflow::with_device(dev, || -> Result<_> {
        Ok((tensors(&train)?, tensors(&test)?))
    })?;
    for seed in 1..=runs as u64 {
        let run = wgflow::bench::w5_fit_mnist(dev, (&xtr, &ytr), (&xte, &yte), epochs, seed)?;
        let ms: Vec<String> = run.epoch_ms.iter().map(|m| format!("{m:.1}")).collect();
        let acc: Vec<String> = run
            .test_accuracy
            .iter()
            .map(|a| format!("{a:.4}"))
            .collect();
        println!(
            "{{\"workload\":\"W5\",\"variant\":\"keras fit\",\"backend\":\"{}\",\"device\":\"{}\",\"seed\":{seed},\"epoch_ms\":[{}],\"test_accuracy\":[{}]}}",
            if dev.is_cpu() { "cpu" } else { "wgpu" },
            dev.physical_device().description().replace('"', "'"),
            ms.join(","),
            acc.join(",")
        );
    }
    Ok(())
}

/// The input-pipeline workload: both pipelines at each thread count, one JSON line each.
fn input_pipeline(mnist: Option<PathBuf>, threads: &[usize], reps: usize) -> Result<()> {
    use wgflow::bench::{input_pipeline_memory, input_pipeline_tfrecord, write_mnist_tfrecord};
    let ((x, y), _) = match &mnist {
        Some(dir) => wgflow::datasets::mnist::load_data_from(dir)?,
        None => wgflow::datasets::mnist::load_data()?,
    };
    let n = y.len();
    let pixels: Vec<u8> = x.iter().copied().collect();
    let labels: Vec<u8> = y.iter().copied().collect();
    let cpu = Device::cpu();
    let (images, label_t) = wgflow::with_device(&cpu, || -> Result<_> {
        Ok((
            wgflow::Tensor::from_u8(&pixels, [n, 28, 28])?,
            wgflow::Tensor::from_u8(&labels, [n])?,
        ))
    })?;
    let path = std::env::temp_dir().join(format!(
        "wgflow_bench_mnist_{}.tfrecord",
        std::process::id()
    ));
    write_mnist_tfrecord(&path, &pixels, &labels)?;
    let line = |variant: &str, t: &wgflow::bench::Timing| {
        let per_s = n as f64 / (t.median_ms * 1e-3);
        json_line(
            "input-pipeline",
            variant,
            &cpu,
            t,
            &format!(",\"samples\":{n},\"samples_per_s\":{per_s:.0}"),
        );
    };
    let result = (|| -> Result<()> {
        for &k in threads {
            let t = input_pipeline_memory(&images, &label_t, k, reps)?;
            line(
                &format!("memory map(normalise) shuffle batch(128) prefetch, threads={k}"),
                &t,
            );
            let t = input_pipeline_tfrecord(&path, n, k, reps)?;
            line(
                &format!("tfrecord parse_single_example batch(128) prefetch, threads={k}"),
                &t,
            );
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&path);
    result
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
