//! Every WGSL source — the hand-written families in `shaders/` and the kernels the printer
//! generates for every kernel family — is validated with naga, without a GPU. A few
//! representative kernels are snapshot-tested (`UPDATE_SNAPSHOTS=1` rewrites them).

use wgflow::DType;
use wgflow::kernel::Kernel;
use wgflow::ops::{
    BinaryOp, Conv2dOptions, CreateOp, Distribution, ElementwiseOp, GatherOp, ImageOp, LinalgOp,
    Meta, MovementOp, NnOp, Op, PadMode, Padding, PoolOptions, ReduceKind, ReductionOp,
    ResizeMethod, UnaryOp,
};
use wgflow::{Axes, Scalar};

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}\n{src}", e.emit_to_string(src)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {e:?}\n{src}"));
}

#[test]
fn hand_written_shader_libraries_validate() {
    for file in ["shaders/math.wgsl", "shaders/random.wgsl"] {
        let mut src = std::fs::read_to_string(file).unwrap();
        if file.ends_with("random.wgsl") {
            src.push_str(&std::fs::read_to_string("shaders/math.wgsl").unwrap());
        }
        src.push_str("\n@compute @workgroup_size(1)\nfn main() {}\n");
        validate(file, &src);
    }
}

/// The kernels an op lowers to, for the given inputs.
fn kernels(op: Op, inputs: &[Meta]) -> Vec<Kernel> {
    let outs = op.infer(inputs).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    op.lower(inputs, &outs)
        .unwrap()
        .calls
        .into_iter()
        .map(|c| c.kernel)
        .collect()
}

fn m(shape: &[usize], dtype: DType) -> Meta {
    Meta::new(shape.to_vec(), dtype)
}

/// A representative kernel of every family, dtype and strategy.
fn catalog() -> Vec<(String, Kernel)> {
    use UnaryOp::*;
    let mut v = Vec::new();
    let mut add =
        |name: String, ks: Vec<Kernel>| v.extend(ks.into_iter().map(|k| (name.clone(), k)));
    let unary = [
        Abs, Neg, Sign, Square, Sqrt, Rsqrt, Reciprocal, Exp, Expm1, Log, Log1p, Sin, Cos, Tan,
        Tanh, Sigmoid, Relu, Relu6, Elu, Selu, Gelu, GeluTanh, Silu, Softplus, Softsign, Erf,
        Floor, Ceil, Round, IsNan, IsInf, IsFinite,
    ];
    for u in unary {
        add(
            format!("{u:?}"),
            kernels(
                Op::Elementwise(ElementwiseOp::Unary(u)),
                &[m(&[3, 257], DType::F32)],
            ),
        );
    }
    for u in [Abs, Neg, Sign, Square, Relu] {
        add(
            format!("{u:?} i32"),
            kernels(
                Op::Elementwise(ElementwiseOp::Unary(u)),
                &[m(&[7], DType::I32)],
            ),
        );
    }
    add(
        "not".into(),
        kernels(
            Op::Elementwise(ElementwiseOp::Unary(LogicalNot)),
            &[m(&[7], DType::Bool)],
        ),
    );
    use BinaryOp::*;
    for b in [
        Add,
        Sub,
        Mul,
        Div,
        FloorDiv,
        FloorMod,
        Pow,
        Maximum,
        Minimum,
        Atan2,
        SquaredDifference,
        Equal,
        NotEqual,
        Less,
        LessEqual,
        Greater,
        GreaterEqual,
    ] {
        add(
            format!("{b:?}"),
            kernels(
                Op::Elementwise(ElementwiseOp::Binary(b)),
                &[m(&[2, 1, 4], DType::F32), m(&[3, 1], DType::F32)],
            ),
        );
        if b != Atan2 {
            add(
                format!("{b:?} i32"),
                kernels(
                    Op::Elementwise(ElementwiseOp::Binary(b)),
                    &[m(&[5], DType::I32), m(&[5], DType::I32)],
                ),
            );
            add(
                format!("{b:?} u32"),
                kernels(
                    Op::Elementwise(ElementwiseOp::Binary(b)),
                    &[m(&[5], DType::U32), m(&[], DType::U32)],
                ),
            );
        }
    }
    add(
        "and".into(),
        kernels(
            Op::Elementwise(ElementwiseOp::Binary(LogicalAnd)),
            &[m(&[2], DType::Bool), m(&[2], DType::Bool)],
        ),
    );
    add(
        "where".into(),
        kernels(
            Op::Elementwise(ElementwiseOp::Where),
            &[
                m(&[3, 1], DType::Bool),
                m(&[1, 4], DType::F32),
                m(&[], DType::F32),
            ],
        ),
    );
    for from in [DType::F32, DType::I32, DType::U32, DType::Bool] {
        for to in [DType::F32, DType::I32, DType::U32, DType::Bool] {
            add(
                format!("cast {from} {to}"),
                kernels(Op::Elementwise(ElementwiseOp::Cast(to)), &[m(&[4], from)]),
            );
        }
    }
    for kind in [
        ReduceKind::Sum,
        ReduceKind::Prod,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::Mean,
        ReduceKind::LogSumExp,
    ] {
        for shape in [[4usize, 37, 9], [2, 3, 70_000]] {
            let op = Op::Reduce(ReductionOp::Reduce {
                kind,
                axes: Axes::List(vec![1]),
                keepdims: false,
            });
            add(
                format!("{kind:?} {shape:?}"),
                kernels(op, &[m(&shape, DType::F32)]),
            );
        }
        if kind != ReduceKind::LogSumExp {
            let op = Op::Reduce(ReductionOp::Reduce {
                kind,
                axes: Axes::All,
                keepdims: false,
            });
            add(
                format!("{kind:?} i32 all"),
                kernels(op, &[m(&[300_000], DType::I32)]),
            );
        }
    }
    for kind in [ReduceKind::Any, ReduceKind::All] {
        let op = Op::Reduce(ReductionOp::Reduce {
            kind,
            axes: Axes::List(vec![0]),
            keepdims: true,
        });
        add(
            format!("{kind:?}"),
            kernels(op, &[m(&[1000, 3], DType::Bool)]),
        );
    }
    for shape in [[6usize, 11, 5], [2, 1000, 3]] {
        add(
            "argmax".into(),
            kernels(
                Op::Reduce(ReductionOp::ArgMax { axis: 1 }),
                &[m(&shape, DType::F32)],
            ),
        );
        add(
            "argmin i32".into(),
            kernels(
                Op::Reduce(ReductionOp::ArgMin { axis: 1 }),
                &[m(&shape, DType::I32)],
            ),
        );
    }
    for (product, dt) in [(false, DType::F32), (true, DType::I32), (false, DType::U32)] {
        let op = Op::Reduce(ReductionOp::Scan {
            axis: 1,
            product,
            exclusive: true,
            reverse: true,
        });
        add("scan".into(), kernels(op, &[m(&[3, 300], dt)]));
    }
    for (shape, axis) in [([5usize, 13], 1i64), ([3, 1000], 1), ([5, 13], 0)] {
        for log in [false, true] {
            add(
                "softmax".into(),
                kernels(
                    Op::Reduce(ReductionOp::Softmax { axis, log }),
                    &[m(&shape, DType::F32)],
                ),
            );
        }
    }
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { [65usize, 33] } else { [33, 65] };
        let b = if tb { [17usize, 65] } else { [65, 17] };
        add(
            format!("matmul {ta} {tb}"),
            kernels(
                Op::Linalg(LinalgOp::MatMul {
                    transpose_a: ta,
                    transpose_b: tb,
                }),
                &[m(&a, DType::F32), m(&b, DType::F32)],
            ),
        );
        let a4 = if ta { [128usize, 64] } else { [64, 128] };
        let b4 = if tb { [256usize, 128] } else { [128, 256] };
        add(
            format!("matmul vec4 {ta} {tb}"),
            kernels(
                Op::Linalg(LinalgOp::MatMul {
                    transpose_a: ta,
                    transpose_b: tb,
                }),
                &[m(&a4, DType::F32), m(&b4, DType::F32)],
            ),
        );
    }
    // Column sums beside the product (a bias gradient), in each operand-load mode of the
    // software kernel: scalar, vec4 along n with k not a multiple of 4 (masked), vec4 along k.
    for (ta, tb, a, b) in [
        (true, false, [37usize, 7], [37usize, 13]),
        (true, false, [37, 8], [37, 16]),
        (false, true, [8, 64], [128, 64]),
    ] {
        let mut ks = kernels(
            Op::Linalg(LinalgOp::MatMul {
                transpose_a: ta,
                transpose_b: tb,
            }),
            &[m(&a, DType::F32), m(&b, DType::F32)],
        );
        for k in &mut ks {
            if let Kernel::Matmul(mk) = k {
                mk.column_sums = Some(Box::new(wgflow::kernel::ColumnSums { epilogue: None }));
            }
        }
        add(format!("matmul column sums {a:?} {b:?}"), ks);
    }
    add(
        "matmul batch".into(),
        kernels(
            Op::Linalg(LinalgOp::MatMul {
                transpose_a: false,
                transpose_b: false,
            }),
            &[m(&[2, 1, 8, 12], DType::F32), m(&[3, 12, 4], DType::F32)],
        ),
    );
    for dist in [
        Distribution::Bits,
        Distribution::Uniform { min: 0.0, max: 1.0 },
        Distribution::Normal {
            mean: 0.0,
            stddev: 1.0,
        },
        Distribution::TruncatedNormal {
            mean: 0.0,
            stddev: 1.0,
        },
        Distribution::UniformInt { min: 0, max: 10 },
    ] {
        add(
            format!("{dist:?}"),
            kernels(
                Op::Create(CreateOp::Random {
                    shape: vec![1000],
                    dist,
                    seed: 1,
                }),
                &[],
            ),
        );
    }
    let mv = |op: MovementOp| Op::Movement(op);
    add(
        "transpose".into(),
        kernels(
            mv(MovementOp::Transpose {
                perm: vec![2, 0, 1],
            }),
            &[m(&[3, 4, 5], DType::F32)],
        ),
    );
    add(
        "broadcast_to".into(),
        kernels(
            mv(MovementOp::BroadcastTo {
                shape: vec![4, 3, 5],
            }),
            &[m(&[3, 1], DType::Bool)],
        ),
    );
    add(
        "concat".into(),
        kernels(
            mv(MovementOp::Concat { axis: 1 }),
            &[m(&[3, 2, 4], DType::I32), m(&[3, 5, 4], DType::I32)],
        ),
    );
    let window = MovementOp::Window {
        begin: vec![6, 1, 0],
        stride: vec![-2, 1, 3],
        size: vec![4, 3, 3],
    };
    add(
        "window".into(),
        kernels(mv(window), &[m(&[7, 6, 8], DType::F32)]),
    );
    for mode in [PadMode::Constant(0.5), PadMode::Reflect, PadMode::Symmetric] {
        add(
            format!("pad {mode:?}"),
            kernels(
                mv(MovementOp::Pad {
                    paddings: vec![[1, 2], [2, 1]],
                    mode,
                }),
                &[m(&[4, 5], DType::F32)],
            ),
        );
    }
    add(
        "tile".into(),
        kernels(
            mv(MovementOp::Tile {
                multiples: vec![2, 3],
            }),
            &[m(&[3, 4], DType::U32)],
        ),
    );
    add(
        "reverse".into(),
        kernels(
            mv(MovementOp::Reverse { axes: vec![0, 2] }),
            &[m(&[3, 4, 5], DType::F32)],
        ),
    );
    let gt = |op: GatherOp| mv(MovementOp::Gather(op));
    add(
        "gather".into(),
        kernels(
            gt(GatherOp::Gather {
                axis: 1,
                batch_dims: 1,
            }),
            &[m(&[4, 3, 2], DType::F32), m(&[4, 5], DType::I32)],
        ),
    );
    add(
        "gather_nd".into(),
        kernels(
            gt(GatherOp::GatherNd { batch_dims: 0 }),
            &[m(&[4, 5, 3], DType::F32), m(&[6, 2], DType::U32)],
        ),
    );
    for dt in [DType::F32, DType::I32, DType::U32] {
        add(
            format!("scatter_nd {dt}"),
            kernels(
                gt(GatherOp::ScatterNd { shape: vec![5, 3] }),
                &[m(&[4, 1], DType::I32), m(&[4, 3], dt)],
            ),
        );
    }
    let seg = GatherOp::UnsortedSegmentSum { num_segments: 5 };
    add(
        "segment_sum".into(),
        kernels(gt(seg), &[m(&[9, 3], DType::F32), m(&[9], DType::I32)]),
    );
    add(
        "one_hot".into(),
        kernels(
            gt(GatherOp::OneHot {
                depth: 7,
                on: 1.0,
                off: 0.0,
                axis: -1,
            }),
            &[m(&[4, 3], DType::I32)],
        ),
    );
    for method in [ResizeMethod::Bilinear, ResizeMethod::Nearest] {
        add(
            format!("resize {method:?}"),
            kernels(
                Op::Image(ImageOp::Resize {
                    size: [13, 9],
                    method,
                }),
                &[m(&[2, 6, 5, 3], DType::F32)],
            ),
        );
    }
    let (x, f) = ([2usize, 11, 9, 3], [3usize, 3, 3, 5]);
    for (s, pad, d) in [
        (1, Padding::Same, 1),
        (2, Padding::Valid, 1),
        (1, Padding::Same, 2),
    ] {
        let o = Conv2dOptions::new(s, pad).dilations(d);
        add(
            format!("conv2d {s} {pad:?} {d}"),
            kernels(
                Op::Nn(NnOp::Conv2D(o)),
                &[m(&x, DType::F32), m(&f, DType::F32)],
            ),
        );
    }
    let o = Conv2dOptions::new(1, Padding::Same);
    let bi = NnOp::Conv2DBackpropInput {
        input_shape: x.to_vec(),
        options: o,
    };
    add(
        "conv2d backprop input".into(),
        kernels(
            Op::Nn(bi),
            &[m(&f, DType::F32), m(&[2, 11, 9, 5], DType::F32)],
        ),
    );
    let bf = NnOp::Conv2DBackpropFilter {
        filter_shape: f.to_vec(),
        options: o,
    };
    add(
        "conv2d backprop filter".into(),
        kernels(
            Op::Nn(bf),
            &[m(&x, DType::F32), m(&[2, 11, 9, 5], DType::F32)],
        ),
    );
    for pad in [Padding::Same, Padding::Valid] {
        let po = PoolOptions::new(3, 2, pad);
        let x = [2usize, 9, 10, 3];
        let out = if pad == Padding::Same {
            [2usize, 5, 5, 3]
        } else {
            [2, 4, 4, 3]
        };
        add(
            format!("max_pool {pad:?}"),
            kernels(Op::Nn(NnOp::MaxPool(po)), &[m(&x, DType::F32)]),
        );
        add(
            format!("avg_pool {pad:?}"),
            kernels(Op::Nn(NnOp::AvgPool(po)), &[m(&x, DType::F32)]),
        );
        let mg = &[m(&x, DType::F32), m(&out, DType::F32), m(&out, DType::F32)];
        add(
            format!("max_pool_grad {pad:?}"),
            kernels(Op::Nn(NnOp::MaxPoolGrad(po)), mg),
        );
        let gg = &[m(&x, DType::F32), m(&out, DType::F32), m(&x, DType::F32)];
        add(
            format!("max_pool_grad_grad {pad:?}"),
            kernels(Op::Nn(NnOp::MaxPoolGradGrad(po)), gg),
        );
        let ag = NnOp::AvgPoolGrad {
            input_shape: x.to_vec(),
            options: po,
        };
        add(
            format!("avg_pool_grad {pad:?}"),
            kernels(Op::Nn(ag), &[m(&out, DType::F32)]),
        );
    }
    for method in [ResizeMethod::Bilinear, ResizeMethod::Nearest] {
        add(
            format!("resize_grad {method:?}"),
            kernels(
                Op::Image(ImageOp::ResizeGrad {
                    size: [6, 5],
                    method,
                }),
                &[m(&[2, 13, 9, 3], DType::F32)],
            ),
        );
    }
    add(
        "softmax_ce".into(),
        kernels(
            Op::Nn(NnOp::SoftmaxCrossEntropyWithLogits { axis: -1 }),
            &[m(&[5, 4], DType::F32), m(&[5, 4], DType::F32)],
        ),
    );
    add(
        "sparse_softmax_ce".into(),
        kernels(
            Op::Nn(NnOp::SparseSoftmaxCrossEntropyWithLogits),
            &[
                m(&[5], DType::I32),
                m(&[5, 4], DType::F32),
                m(&[5, 4], DType::F32),
            ],
        ),
    );
    add(
        "sigmoid_ce".into(),
        kernels(
            Op::Nn(NnOp::SigmoidCrossEntropyWithLogits),
            &[m(&[5, 4], DType::F32), m(&[5, 4], DType::F32)],
        ),
    );
    add(
        "fill".into(),
        kernels(
            Op::Create(CreateOp::Fill {
                shape: vec![3, 3],
                value: Scalar::Bool(true),
            }),
            &[],
        ),
    );
    add(
        "eye".into(),
        kernels(
            Op::Create(CreateOp::Eye {
                rows: 3,
                cols: 4,
                dtype: DType::I32,
            }),
            &[],
        ),
    );
    add(
        "linspace".into(),
        kernels(
            Op::Create(CreateOp::Linspace {
                start: 0.0,
                stop: 1.0,
                num: 5,
            }),
            &[],
        ),
    );
    add(
        "range".into(),
        kernels(
            Op::Create(CreateOp::Range {
                start: Scalar::U32(1),
                delta: Scalar::U32(2),
                len: 5,
            }),
            &[],
        ),
    );
    v
}

#[test]
fn every_generated_kernel_validates_for_both_profiles() {
    let cat = catalog();
    assert!(cat.len() > 200, "the catalog covers every family");
    for (name, k) in &cat {
        for software in [false, true] {
            let src = wgflow::kernel_wgsl(k, software).unwrap();
            validate(&format!("{name} (software={software})"), &src);
        }
    }
}

#[test]
fn representative_kernels_match_their_snapshots() {
    let cases: Vec<(&str, Kernel, bool)> = vec![
        (
            "map_sigmoid",
            kernels(
                Op::Elementwise(ElementwiseOp::Unary(UnaryOp::Sigmoid)),
                &[m(&[1024], DType::F32)],
            )
            .remove(0),
            false,
        ),
        (
            "map_add_broadcast",
            kernels(
                Op::Elementwise(ElementwiseOp::Binary(BinaryOp::Add)),
                &[m(&[2, 1, 4], DType::F32), m(&[3, 1], DType::F32)],
            )
            .remove(0),
            false,
        ),
        (
            "reduce_sum_rows",
            kernels(
                Op::Reduce(ReductionOp::Reduce {
                    kind: ReduceKind::Sum,
                    axes: Axes::List(vec![1]),
                    keepdims: false,
                }),
                &[m(&[64, 1000], DType::F32)],
            )
            .remove(0),
            false,
        ),
        (
            "matmul_blocked_software",
            kernels(
                Op::Linalg(LinalgOp::MatMul {
                    transpose_a: false,
                    transpose_b: false,
                }),
                &[m(&[128, 256], DType::F32), m(&[256, 128], DType::F32)],
            )
            .remove(0),
            true,
        ),
    ];
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    for (name, k, software) in cases {
        let src = wgflow::kernel_wgsl(&k, software).unwrap();
        let path = format!("tests/snapshots/{name}.wgsl");
        if update {
            std::fs::create_dir_all("tests/snapshots").unwrap();
            std::fs::write(&path, &src).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {path}: run with UPDATE_SNAPSHOTS=1"));
        assert_eq!(
            src, want,
            "{name} changed: review the diff and run with UPDATE_SNAPSHOTS=1"
        );
    }
}
