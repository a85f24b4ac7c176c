;; Power -> dB: module fields of graft's audio kernels (see scripts/build-wasm.mjs, src/audio/wasm/kernels.ts).
  ;; ---- power -> dB (src/audio/mel.ts amplitudeToDb) ----

  ;; ln x per f64 lane, for normal x > 0 (and +inf -> +inf): x = 2^e m with m in [sqrt(1/2), sqrt(2)),
  ;; ln m = 2 atanh s, s = (m - 1)/(m + 1), |s| < 0.172, by its series to s^15 (error < 1e-14), plus
  ;; e ln 2 in two parts (fdlibm's split). Agrees with Math.log to ~1e-15 relative.
  (func $ln (param $x v128) (result v128)
    (local $m v128) (local $e v128) (local $big v128) (local $ef v128) (local $s v128) (local $z v128) (local $p v128)
    (local.set $m (v128.or (v128.and (local.get $x) (v128.const i64x2 0x000FFFFFFFFFFFFF 0x000FFFFFFFFFFFFF))
      (v128.const i64x2 0x3FF0000000000000 0x3FF0000000000000)))
    (local.set $e (i64x2.sub (i64x2.shr_u (local.get $x) (i32.const 52)) (v128.const i64x2 1023 1023)))
    (local.set $big (f64x2.gt (local.get $m) (v128.const f64x2 1.4142135623730951 1.4142135623730951)))
    (local.set $m (v128.bitselect (f64x2.mul (local.get $m) (v128.const f64x2 0.5 0.5)) (local.get $m) (local.get $big)))
    (local.set $e (i64x2.sub (local.get $e) (local.get $big))) ;; true lanes are -1: e + 1
    (local.set $ef (f64x2.convert_low_i32x4_s (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (local.get $e) (local.get $e))))
    (local.set $s (f64x2.div (f64x2.sub (local.get $m) (v128.const f64x2 1 1)) (f64x2.add (local.get $m) (v128.const f64x2 1 1))))
    (local.set $z (f64x2.mul (local.get $s) (local.get $s)))
    (local.set $p (f64x2.add (f64x2.mul (v128.const f64x2 0.06666666666666667 0.06666666666666667) (local.get $z)) (v128.const f64x2 0.07692307692307693 0.07692307692307693)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (v128.const f64x2 0.09090909090909091 0.09090909090909091)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (v128.const f64x2 0.1111111111111111 0.1111111111111111)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (v128.const f64x2 0.14285714285714285 0.14285714285714285)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (v128.const f64x2 0.2 0.2)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (v128.const f64x2 0.3333333333333333 0.3333333333333333)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $z)) (v128.const f64x2 1 1)))
    (v128.bitselect (local.get $x)
      (f64x2.add (f64x2.mul (local.get $ef) (v128.const f64x2 6.93147180369123816490e-01 6.93147180369123816490e-01))
        (f64x2.add (f64x2.mul (f64x2.add (local.get $s) (local.get $s)) (local.get $p))
          (f64x2.mul (local.get $ef) (v128.const f64x2 1.90821492927058770002e-10 1.90821492927058770002e-10))))
      (f64x2.eq (local.get $x) (v128.const f64x2 inf inf))))

  ;; The largest of n4 * 4 float32 values (NaN ignored, as the JS loop does), at least 0.
  (func (export "max_f32") (param $p i32) (param $n4 i32) (result f32)
    (local $acc v128)
    (block $done (loop $L
      (br_if $done (i32.eqz (local.get $n4)))
      (local.set $acc (f32x4.pmax (local.get $acc) (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $n4 (i32.sub (local.get $n4) (i32.const 1)))
      (br $L)))
    (local.set $acc (f32x4.pmax (local.get $acc) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc))))
    (local.set $acc (f32x4.pmax (local.get $acc) (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $acc) (local.get $acc))))
    (f32x4.extract_lane 0 (local.get $acc)))

  ;; In place on n2 * 2 float32 values: v -> max(k ln max(v, amin), floor), rounded to float32 once
  ;; (equal to JS's round-then-floor: rounding is monotonic).
  (func (export "db") (param $p i32) (param $n2 i32) (param $k f64) (param $amin f64) (param $floor f64)
    (local $kv v128) (local $av v128) (local $fv v128)
    (local.set $kv (f64x2.splat (local.get $k)))
    (local.set $av (f64x2.splat (local.get $amin)))
    (local.set $fv (f64x2.splat (local.get $floor)))
    (block $done (loop $L
      (br_if $done (i32.eqz (local.get $n2)))
      (v128.store64_lane 0 (local.get $p) (f32x4.demote_f64x2_zero (f64x2.pmax
        (f64x2.mul (local.get $kv) (call $ln (f64x2.pmax (local.get $av) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p))))))
        (local.get $fv))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (local.set $n2 (i32.sub (local.get $n2) (i32.const 1)))
      (br $L)))
  )
