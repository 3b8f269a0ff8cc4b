// SPDX-License-Identifier: Apache-2.0
//! A synthetic interaction generator with learnable structure, so the repository can ship
//! demo data and benchmarks can run at any size without redistributing real data sets.
//!
//! Items fall into genres and have power-law popularity within them; each user prefers one to
//! three genres and draws most of their items from those, the rest from the whole catalogue.
//! Users' activity is heavy-tailed. Timestamps increase per user. Everything follows from the
//! seed.

use std::io::Write;

use recsys_eval::SplitMix64;

#[derive(Clone, Debug)]
pub struct Spec {
    pub users: usize,
    pub items: usize,
    /// Target number of distinct (user, item) pairs.
    pub interactions: usize,
    pub genres: usize,
    pub seed: u64,
    /// Add a weight column (1-5, mostly 1) as from views, likes and purchases.
    pub weights: bool,
}

pub struct Generated {
    pub interactions: Vec<(u32, u32, f32, i64)>,
    pub item_genre: Vec<u32>,
}

const START: i64 = 1_700_000_000;
const SPAN: i64 = 180 * 86_400;
/// Share of a user's interactions drawn from their preferred genres.
const FOCUS: f64 = 0.8;
/// Exponent of the within-genre popularity power law.
const ZIPF: f64 = 0.9;

/// Cumulative weights for sampling by power-law popularity.
struct Sampler {
    items: Vec<u32>,
    cumulative: Vec<f64>,
}

impl Sampler {
    fn new(items: Vec<u32>) -> Self {
        let mut total = 0.0;
        let cumulative = (0..items.len())
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(ZIPF);
                total
            })
            .collect();
        Sampler { items, cumulative }
    }

    fn draw(&self, rng: &mut SplitMix64) -> u32 {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let x = rng.next_f64() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.items[i.min(self.items.len() - 1)]
    }
}

pub fn generate(spec: &Spec) -> Generated {
    let genres = spec.genres.clamp(1, spec.items.max(1));
    let mut rng = SplitMix64::new(spec.seed);
    // Items are dealt to genres round-robin after a shuffle, so each genre has a mix of ids.
    let mut order: Vec<u32> = (0..spec.items as u32).collect();
    rng.shuffle(&mut order);
    let mut item_genre = vec![0u32; spec.items];
    let mut by_genre: Vec<Vec<u32>> = vec![Vec::new(); genres];
    for (k, &item) in order.iter().enumerate() {
        item_genre[item as usize] = (k % genres) as u32;
        by_genre[k % genres].push(item);
    }
    let samplers: Vec<Sampler> = by_genre.into_iter().map(Sampler::new).collect();
    let everything = Sampler::new(order);

    let mean = spec.interactions as f64 / spec.users.max(1) as f64;
    let mut interactions = Vec::with_capacity(spec.interactions + spec.users);
    let mut seen = std::collections::HashSet::new();
    for user in 0..spec.users as u32 {
        let mut r = SplitMix64::stream(spec.seed, user as u64 + 1);
        // Log-normal activity with the requested mean: exp(mu + sigma²/2) = mean.
        let sigma = 1.0f64;
        let z = normal(&mut r);
        let count = ((mean.ln() - sigma * sigma / 2.0 + sigma * z).exp().round() as usize)
            .clamp(1, spec.items);
        let preferred: Vec<usize> = (0..1 + r.below(3) as usize)
            .map(|_| r.below(genres as u64) as usize)
            .collect();
        let mut t = START + r.below(SPAN as u64) as i64;
        seen.clear();
        let mut attempts = 0;
        while seen.len() < count && attempts < count * 20 {
            attempts += 1;
            let item = if r.next_f64() < FOCUS {
                samplers[preferred[r.below(preferred.len() as u64) as usize]].draw(&mut r)
            } else {
                everything.draw(&mut r)
            };
            if !seen.insert(item) {
                continue;
            }
            t += 60 + r.below(3 * 86_400) as i64;
            let weight = if spec.weights { weight(&mut r) } else { 1.0 };
            interactions.push((user, item, weight, t));
        }
    }
    Generated {
        interactions,
        item_genre,
    }
}

/// 1 (view) mostly, sometimes 2-5 (like, add to cart, purchase).
fn weight(r: &mut SplitMix64) -> f32 {
    match r.below(100) {
        0..=69 => 1.0,
        70..=84 => 2.0,
        85..=94 => 3.0,
        95..=98 => 4.0,
        _ => 5.0,
    }
}

/// Standard normal by Box-Muller.
fn normal(r: &mut SplitMix64) -> f64 {
    let u1 = r.next_f64().max(f64::MIN_POSITIVE);
    let u2 = r.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

pub fn user_id(u: u32) -> String {
    format!("u{u:06}")
}

pub fn item_id(i: u32) -> String {
    format!("i{i:05}")
}

pub fn write_interactions(
    out: &mut impl Write,
    g: &Generated,
    weights: bool,
) -> std::io::Result<()> {
    if weights {
        writeln!(out, "user\titem\tweight\ttimestamp")?;
    } else {
        writeln!(out, "user\titem\ttimestamp")?;
    }
    for &(u, i, w, t) in &g.interactions {
        if weights {
            writeln!(out, "{}\t{}\t{w}\t{t}", user_id(u), item_id(i))?;
        } else {
            writeln!(out, "{}\t{}\t{t}", user_id(u), item_id(i))?;
        }
    }
    Ok(())
}

const ADJECTIVES: &[&str] = &[
    "Amber", "Blue", "Crimson", "Silent", "Golden", "Hidden", "Iron", "Lunar", "Midnight",
    "Northern", "Paper", "Quiet", "Rapid", "Silver", "Velvet", "Wild",
];
const NOUNS: &[&str] = &[
    "Harbor", "Garden", "Signal", "River", "Lantern", "Orbit", "Canyon", "Meadow", "Engine",
    "Archive", "Compass", "Forest", "Island", "Circuit", "Voyage", "Summit",
];
const GENRES: &[&str] = &[
    "drama",
    "comedy",
    "documentary",
    "thriller",
    "sci-fi",
    "romance",
    "animation",
    "horror",
    "music",
    "sports",
];

/// The item catalogue: id, a readable title, and the genre name.
pub fn write_items(out: &mut impl Write, g: &Generated) -> std::io::Result<()> {
    writeln!(out, "item\ttitle\tgenre")?;
    for (i, &genre) in g.item_genre.iter().enumerate() {
        let a = ADJECTIVES[i % ADJECTIVES.len()];
        let n = NOUNS[(i / ADJECTIVES.len()) % NOUNS.len()];
        let series = i / (ADJECTIVES.len() * NOUNS.len());
        let title = if series == 0 {
            format!("{a} {n}")
        } else {
            format!("{a} {n} {}", series + 1)
        };
        let genre = GENRES
            .get(genre as usize)
            .copied()
            .map_or_else(|| format!("genre-{genre}"), str::to_string);
        writeln!(out, "{}\t{title}\t{genre}", item_id(i as u32))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            users: 300,
            items: 200,
            interactions: 6000,
            genres: 5,
            seed: 1,
            weights: true,
        }
    }

    #[test]
    fn deterministic_and_close_to_requested_size() {
        let (a, b) = (generate(&spec()), generate(&spec()));
        assert_eq!(a.interactions, b.interactions);
        let n = a.interactions.len() as f64;
        assert!((4000.0..9000.0).contains(&n), "{n}");
        let other = generate(&Spec { seed: 2, ..spec() });
        assert_ne!(a.interactions, other.interactions);
    }

    #[test]
    fn pairs_are_distinct_and_in_range() {
        let g = generate(&spec());
        let mut pairs = std::collections::HashSet::new();
        for &(u, i, w, _) in &g.interactions {
            assert!(u < 300 && i < 200 && (1.0..=5.0).contains(&w));
            assert!(pairs.insert((u, i)));
        }
    }

    #[test]
    fn users_concentrate_on_few_genres() {
        // Structure a recommender can learn: the top genre of a user holds far more than 1/5.
        let g = generate(&spec());
        let mut per_user = vec![[0usize; 5]; 300];
        for &(u, i, _, _) in &g.interactions {
            per_user[u as usize][g.item_genre[i as usize] as usize] += 1;
        }
        let share: f64 = per_user
            .iter()
            .filter(|c| c.iter().sum::<usize>() >= 10)
            .map(|c| *c.iter().max().unwrap() as f64 / c.iter().sum::<usize>() as f64)
            .sum::<f64>()
            / per_user
                .iter()
                .filter(|c| c.iter().sum::<usize>() >= 10)
                .count() as f64;
        assert!(share > 0.4, "mean top-genre share {share}");
    }
}
