//! Disclosure control: which cells of a report are not shown. A cell counting more than zero
//! and fewer than the threshold is suppressed (primary); then, as long as some suppressed cell
//! can still be worked out exactly from the published cells and the sums that tie them
//! together (row and column totals, national totals), one more cell of such a sum is
//! suppressed (secondary), preferring small non-zero inner cells, then totals, then zeros.
//!
//! "Worked out exactly" is decided by linear algebra, not by a rule of thumb: with the
//! published cells moved to the right-hand side, a suppressed cell is determined when its unit
//! vector lies in the row space of the sums' coefficients over the suppressed cells. Counting
//! two suppressed cells per row and column is not enough (two suppressed blocks joined by one
//! cell give that cell away); this check is. Ranks are computed modulo the prime 2^61 − 1,
//! which can only find more cells determined than there are (and suppress more), never fewer.
//! Each quarter is suppressed from its own final counts alone, so the same quarter looks the
//! same in every report, and no report publishes a sum across quarters.

/// Why a cell is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    /// The cell counts more than zero and fewer than the threshold.
    Primary,
    /// The cell is hidden so that a primary cell cannot be worked out from the sums.
    Secondary,
}

/// Cells and the sums that tie them together: each equation says its terms add up to zero.
#[derive(Debug, Default)]
pub struct Grid {
    values: Vec<u64>,
    totals: Vec<bool>,
    equations: Vec<Vec<(usize, i64)>>,
}

const P: u64 = (1 << 61) - 1;

// === impl Grid ===

impl Grid {
    /// Adds a cell; `total` cells (sums of others) are suppressed only when nothing else
    /// will do. Returns its index.
    pub fn cell(&mut self, value: u64, total: bool) -> usize {
        self.values.push(value);
        self.totals.push(total);
        self.values.len() - 1
    }

    /// The count in a cell.
    pub fn value(&self, cell: usize) -> u64 {
        self.values[cell]
    }

    /// Adds the fact that `total` is the sum of `parts`.
    pub fn sum(&mut self, total: usize, parts: impl IntoIterator<Item = usize>) {
        let mut terms: Vec<(usize, i64)> = parts.into_iter().map(|c| (c, 1)).collect();
        terms.push((total, -1));
        self.equations.push(terms);
    }

    /// Which cells to hide, by index: primary below `threshold`, then secondary until no
    /// hidden cell can be worked out.
    pub fn suppress(&self, threshold: u64) -> Vec<Option<Suppression>> {
        let mut hidden: Vec<Option<Suppression>> = self
            .values
            .iter()
            .map(|v| (*v > 0 && *v < threshold).then_some(Suppression::Primary))
            .collect();
        loop {
            let exposed = self.determined(&hidden);
            // A cell that is the only hidden one of a sum is given away directly: protect
            // such a cell first, with a second cell of that sum.
            let Some(&first) = exposed.first() else { break };
            let cell = exposed
                .iter()
                .copied()
                .find(|c| !self.alone_in(*c, &hidden).is_empty())
                .unwrap_or(first);
            let Some(complement) = self.complement_for(cell, &hidden) else {
                break;
            };
            hidden[complement] = Some(Suppression::Secondary);
        }
        hidden
    }

    /// The best cell to hide next to `cell`: in a sum with it if possible, else in any sum
    /// with a hidden cell; non-zero before zero (a hidden zero in a row whose total is 0 is
    /// known to be 0, since counts are never negative), inner before totals, small before large.
    fn complement_for(&self, cell: usize, hidden: &[Option<Suppression>]) -> Option<usize> {
        let shown_in = |eq: &Vec<(usize, i64)>| {
            eq.iter()
                .map(|(c, _)| *c)
                .filter(|c| hidden[*c].is_none())
                .collect::<Vec<_>>()
        };
        let alone = self.alone_in(cell, hidden);
        let near: Vec<usize> = if alone.is_empty() {
            self.equations
                .iter()
                .filter(|eq| eq.iter().any(|(c, _)| *c == cell))
                .collect()
        } else {
            alone
        }
        .into_iter()
        .flat_map(shown_in)
        .collect();
        let candidates = if near.is_empty() {
            self.equations
                .iter()
                .filter(|eq| eq.iter().any(|(c, _)| hidden[*c].is_some()))
                .flat_map(shown_in)
                .collect()
        } else {
            near
        };
        candidates
            .into_iter()
            .min_by_key(|c| (self.values[*c] == 0, self.totals[*c], self.values[*c], *c))
    }

    /// The sums in which `cell` is the only hidden cell.
    fn alone_in(&self, cell: usize, hidden: &[Option<Suppression>]) -> Vec<&Vec<(usize, i64)>> {
        self.equations
            .iter()
            .filter(|eq| eq.iter().any(|(c, _)| *c == cell))
            .filter(|eq| eq.iter().filter(|(c, _)| hidden[*c].is_some()).count() == 1)
            .collect()
    }

    /// The hidden cells that the shown cells and the sums determine exactly.
    fn determined(&self, hidden: &[Option<Suppression>]) -> Vec<usize> {
        let columns: Vec<usize> = (0..self.values.len())
            .filter(|c| hidden[*c].is_some())
            .collect();
        let column_of = |cell: usize| columns.binary_search(&cell).ok();
        let mut rows: Vec<Vec<u64>> = self
            .equations
            .iter()
            .filter_map(|eq| {
                let mut row = vec![0u64; columns.len()];
                let mut any = false;
                for (cell, coefficient) in eq {
                    if let Some(col) = column_of(*cell) {
                        row[col] = add(row[col], residue(*coefficient));
                        any = true;
                    }
                }
                any.then_some(row)
            })
            .collect();
        let pivots = reduce(&mut rows, columns.len());
        pivots
            .into_iter()
            .filter(|(row, _)| rows[*row].iter().filter(|v| **v != 0).count() == 1)
            .map(|(_, col)| columns[col])
            .collect()
    }
}

/// Brings `rows` to reduced row echelon form modulo [`P`]; returns (row, column) per pivot.
fn reduce(rows: &mut [Vec<u64>], width: usize) -> Vec<(usize, usize)> {
    let mut pivots = Vec::new();
    let mut next = 0;
    for col in 0..width {
        let Some(found) = (next..rows.len()).find(|r| rows[*r][col] != 0) else {
            continue;
        };
        rows.swap(next, found);
        let inverse = power(rows[next][col], P - 2);
        for v in rows[next].iter_mut() {
            *v = mul(*v, inverse);
        }
        let pivot_row = rows[next].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            let factor = row[col];
            if r != next && factor != 0 {
                for (v, p) in row.iter_mut().zip(&pivot_row) {
                    *v = add(*v, P - mul(factor, *p));
                }
            }
        }
        pivots.push((next, col));
        next += 1;
    }
    pivots
}

fn residue(c: i64) -> u64 {
    (i128::from(c).rem_euclid(i128::from(P))) as u64
}

fn add(a: u64, b: u64) -> u64 {
    ((u128::from(a) + u128::from(b)) % u128::from(P)) as u64
}

fn mul(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(P)) as u64
}

fn power(mut base: u64, mut exp: u64) -> u64 {
    let mut result = 1;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::{Suppression::*, *};

    /// A table of `rows` with row totals, column totals and a grand total; returns the grid
    /// and the inner cells' indexes, row by row.
    fn table(rows: &[&[u64]]) -> (Grid, Vec<Vec<usize>>) {
        let mut grid = Grid::default();
        let inner: Vec<Vec<usize>> = rows
            .iter()
            .map(|r| r.iter().map(|v| grid.cell(*v, false)).collect())
            .collect();
        let row_totals: Vec<usize> = rows
            .iter()
            .zip(&inner)
            .map(|(r, cells)| {
                let t = grid.cell(r.iter().sum(), true);
                grid.sum(t, cells.clone());
                t
            })
            .collect();
        let width = rows[0].len();
        let col_totals: Vec<usize> = (0..width)
            .map(|c| {
                let t = grid.cell(rows.iter().map(|r| r[c]).sum(), true);
                grid.sum(t, inner.iter().map(|r| r[c]));
                t
            })
            .collect();
        let grand = grid.cell(rows.iter().flat_map(|r| r.iter()).sum(), true);
        grid.sum(grand, row_totals);
        grid.sum(grand, col_totals);
        (grid, inner)
    }

    #[test]
    fn a_single_small_cell_gets_a_complement_in_its_row_and_column() {
        let (grid, cells) = table(&[&[20, 3, 30], &[40, 50, 60], &[70, 80, 90]]);
        let hidden = grid.suppress(5);
        assert_eq!(hidden[cells[0][1]], Some(Primary));
        assert_eq!(
            hidden.iter().filter(|h| h.is_some()).count(),
            4,
            "a 2×2 block"
        );
        assert!(grid.determined(&hidden).is_empty());
        // The smallest cells next to it were chosen: 20 in its row, 50 in its column, then 40.
        assert_eq!(hidden[cells[0][0]], Some(Secondary));
        assert_eq!(hidden[cells[1][1]], Some(Secondary));
        assert_eq!(hidden[cells[1][0]], Some(Secondary));
    }

    #[test]
    fn two_small_cells_in_a_row_still_need_protection_in_their_columns() {
        let (grid, cells) = table(&[&[2, 3, 30], &[40, 50, 60]]);
        let hidden = grid.suppress(5);
        assert!(grid.determined(&hidden).is_empty());
        assert!(hidden[cells[1][0]].is_some() && hidden[cells[1][1]].is_some());
    }

    #[test]
    fn a_cell_joining_two_hidden_blocks_is_found_although_every_line_has_two() {
        // Two 2×2 blocks of hidden cells (rows 0-1 × cols 0-1 and rows 2-3 × cols 2-3) and one
        // hidden cell at (1, 2): every row and column has at least two hidden cells, yet the
        // joining cell is a bridge and can be computed.
        let (grid, cells) = table(&[
            &[10, 10, 10, 10],
            &[10, 10, 10, 10],
            &[10, 10, 10, 10],
            &[10, 10, 10, 10],
        ]);
        let mut hidden = vec![None; grid.values.len()];
        for (r, c) in [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 2),
            (2, 3),
            (3, 2),
            (3, 3),
            (1, 2),
        ] {
            hidden[cells[r][c]] = Some(Primary);
        }
        assert_eq!(grid.determined(&hidden), [cells[1][2]]);
        hidden[cells[1][2]] = None;
        assert!(grid.determined(&hidden).is_empty());
    }

    #[test]
    fn zeros_and_large_cells_are_shown() {
        let (grid, _) = table(&[&[0, 10], &[7, 0]]);
        assert!(grid.suppress(5).iter().all(Option::is_none));
    }

    #[test]
    fn a_small_total_is_suppressed_with_its_parts() {
        let (grid, cells) = table(&[&[1, 2], &[30, 40]]);
        let hidden = grid.suppress(5);
        assert!(grid.determined(&hidden).is_empty());
        assert!(cells[0].iter().all(|c| hidden[*c] == Some(Primary)));
    }
}
