//! `Model::summary`: Keras 3's table, character for character (box drawing, column
//! widths, word wrapping in cells, the parameter totals with their sizes in bytes).

use super::layers::{KerasTensor, LayerRef, Source, fmt_shape};
use super::model::{Kind, Model};

/// Column widths (borders excluded) Keras uses by default.
const THREE_COLUMNS: [usize; 3] = [33, 24, 15];
const FOUR_COLUMNS: [usize; 4] = [21, 19, 12, 19];

struct Row {
    cells: Vec<String>,
}

pub(crate) fn summary(model: &Model) -> String {
    let core = model.core();
    let mut rows = Vec::new();
    let mut connected = false;
    match &core.kind {
        Kind::Sequential(_) | Kind::Subclassed(_) => {
            for l in core.layers() {
                rows.push(Row {
                    cells: layer_cells(&l),
                });
            }
        }
        Kind::Functional { inputs, order, .. } => {
            connected = !sequential_like(inputs, order);
            for i in inputs {
                let mut cells = vec![
                    format!("{} (InputLayer)", tensor_name(i)),
                    fmt_shape(i.shape()),
                    "0".to_string(),
                ];
                if connected {
                    cells.push("-".into());
                }
                rows.push(Row { cells });
            }
            for l in core.layers() {
                let mut cells = layer_cells(&l);
                if connected {
                    cells.push(connections(&l, order));
                }
                rows.push(Row { cells });
            }
        }
    }
    let widths: &[usize] = if connected {
        &FOUR_COLUMNS
    } else {
        &THREE_COLUMNS
    };
    let mut header = vec!["Layer (type)", "Output Shape", "Param #"];
    if connected {
        header.push("Connected to");
    }
    let mut out = format!("Model: \"{}\"\n", core.name);
    out += &rule('┏', '━', '┳', '┓', widths);
    out += &line(
        &header.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        widths,
        '┃',
    );
    out += &rule('┡', '━', '╇', '┩', widths);
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out += &rule('├', '─', '┼', '┤', widths);
        }
        out += &line(&r.cells, widths, '│');
    }
    out += &rule('└', '─', '┴', '┘', widths);
    let count = |vars: Vec<crate::Variable>| -> usize {
        vars.iter()
            .map(|v| v.shape().iter().product::<usize>())
            .sum()
    };
    let total = count(model.weights());
    let trainable = count(model.trainable_variables());
    let frozen = count(model.non_trainable_variables());
    for (label, n) in [
        ("Total", total),
        ("Trainable", trainable),
        ("Non-trainable", frozen),
    ] {
        out += &format!(
            " {label} params: {} ({})\n",
            thousands(n),
            readable_size(n * 4)
        );
    }
    out
}

fn layer_cells(l: &LayerRef) -> Vec<String> {
    // Several outputs print as Keras's list: `[(None, 8), (None, 8)]`.
    let shape = match l.output_shapes() {
        None => "?".to_string(),
        Some(s) if s.len() == 1 => fmt_shape(&s[0]),
        Some(s) => format!(
            "[{}]",
            s.iter()
                .map(|s| fmt_shape(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let params = if l.is_built() {
        thousands(l.count_params())
    } else {
        "0 (unbuilt)".to_string()
    };
    vec![format!("{} ({})", l.name(), l.class_name()), shape, params]
}

fn tensor_name(t: &KerasTensor) -> String {
    match &t.0.source {
        Source::Input { name } => name.clone(),
        Source::Layer { layer, .. } => layer.name(),
    }
}

/// Keras's `[node][tensor]` of a tensor: which call made it and which of its outputs.
fn node_and_output(t: &KerasTensor) -> (usize, usize) {
    match &t.0.source {
        Source::Input { .. } => (0, 0),
        Source::Layer {
            node_index,
            output_index,
            ..
        } => (*node_index, *output_index),
    }
}

/// `dense[0][0], input[0][0]`: the tensors each call of `l` in the model consumed.
fn connections(l: &LayerRef, order: &[KerasTensor]) -> String {
    let mut calls: Vec<(usize, &Vec<KerasTensor>)> = order
        .iter()
        .filter_map(|t| match &t.0.source {
            Source::Layer {
                layer,
                inputs,
                node_index,
                ..
            } if layer.same(l) => Some((*node_index, inputs)),
            _ => None,
        })
        .collect();
    calls.sort_by_key(|(i, _)| *i);
    // A call with several outputs has a tensor per output in `order`: list it once.
    calls.dedup_by_key(|(i, _)| *i);
    calls
        .iter()
        .flat_map(|(_, inputs)| inputs.iter())
        .map(|t| {
            let (node, output) = node_and_output(t);
            format!("{}[{node}][{output}]", tensor_name(t))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A functional model prints like a Sequential one when it is a chain: one input, every
/// layer called once on one tensor, every tensor used once.
fn sequential_like(inputs: &[KerasTensor], order: &[KerasTensor]) -> bool {
    if inputs.len() != 1 {
        return false;
    }
    let mut used = std::collections::HashSet::new();
    let mut layers: Vec<LayerRef> = Vec::new();
    for t in order {
        let Source::Layer { layer, inputs, .. } = &t.0.source else {
            continue;
        };
        if inputs.len() != 1 || !used.insert(inputs[0].key()) {
            return false;
        }
        if layers.iter().any(|l| l.same(layer)) {
            return false;
        }
        layers.push(layer.clone());
    }
    true
}

fn rule(left: char, fill: char, mid: char, right: char, widths: &[usize]) -> String {
    let mut s = String::new();
    s.push(left);
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            s.push(mid);
        }
        s.extend(std::iter::repeat_n(fill, *w));
    }
    s.push(right);
    s.push('\n');
    s
}

/// One table row, each cell word-wrapped to its column (the third column right-aligned).
fn line(cells: &[String], widths: &[usize], border: char) -> String {
    let wrapped: Vec<Vec<String>> = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| wrap(c, w - 2))
        .collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    let mut s = String::new();
    for r in 0..height {
        s.push(border);
        for (i, (lines, w)) in wrapped.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push(border);
            }
            let text = lines.get(r).map_or("", String::as_str);
            let inner = w - 2;
            if i == 2 {
                s += &format!(" {text:>inner$} ");
            } else {
                s += &format!(" {text:<inner$} ");
            }
        }
        s.push(border);
        s.push('\n');
    }
    s
}

/// Greedy word wrap at spaces (a word longer than the width is split).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        if current.is_empty() {
            current = word;
        } else if current.chars().count() + 1 + word.chars().count() <= width {
            current.push(' ');
            current += &word;
        } else {
            lines.push(std::mem::replace(&mut current, word));
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// `535,818`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras's `readable_memory_size`: `2.04 MB` (powers of 1024).
fn readable_size(bytes: usize) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < units.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.2} {}", units[unit])
}
