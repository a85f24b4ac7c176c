;; dB spectrogram -> RGB image: module fields of graft's audio kernels (see scripts/build-wasm.mjs, src/audio/wasm/kernels.ts).
  ;; ---- dB spectrogram -> the backbone's 8-bit RGB image (src/audio/frontend.ts toGrey,
  ;; resizeBilinear, greyToRgb; the same float64 operations in the same order, with the same float32
  ;; roundings between the steps) ----
  ;; spec: f32 [sh][sw] dB, band 0 first; grey: f32 scratch [sh][sw] (written flipped: high bands
  ;; first); rows: f64 scratch [sh][w] + 2; ax: x0 i32[w], x1 i32[w], fx f64[w], 1 - fx f64[w];
  ;; ay: the same for y with h; out: u8 [h][w][3].
  (func (export "grey_image")
    (param $spec i32) (param $sh i32) (param $sw i32) (param $floor f64) (param $top f64)
    (param $h i32) (param $w i32) (param $ax i32) (param $ay i32) (param $grey i32) (param $rows i32) (param $out i32)
    (local $r i32) (local $t i32) (local $src i32) (local $dst i32) (local $x i32) (local $y i32) (local $g i32) (local $q i32)
    (local $x0 i32) (local $x1 i32) (local $fx i32) (local $gx i32) (local $a i32) (local $b i32) (local $o i32)
    (local $fy v128) (local $gy v128) (local $v v128) (local $px v128)
    ;; grey levels, rows flipped
    (local.set $r (i32.const 0))
    (block $g1 (loop $gr
      (br_if $g1 (i32.ge_u (local.get $r) (local.get $sh)))
      (local.set $src (i32.add (local.get $spec) (i32.shl (i32.mul (local.get $r) (local.get $sw)) (i32.const 2))))
      (local.set $dst (i32.add (local.get $grey)
        (i32.shl (i32.mul (i32.sub (i32.sub (local.get $sh) (i32.const 1)) (local.get $r)) (local.get $sw)) (i32.const 2))))
      (local.set $t (i32.const 0))
      (block $g2 (loop $gt
        (br_if $g2 (i32.ge_u (local.get $t) (local.get $sw)))
        (f32.store (local.get $dst) (f32.demote_f64 (f64.max (f64.const 0)
          (f64.div (f64.sub (f64.promote_f32 (f32.load (local.get $src))) (local.get $floor)) (local.get $top)))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $gt)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $gr)))
    ;; along x: rows[r][x] = g[r][x0] (1 - fx) + g[r][x1] fx
    (local.set $x0 (local.get $ax))
    (local.set $x1 (i32.add (local.get $ax) (i32.shl (local.get $w) (i32.const 2))))
    (local.set $fx (i32.add (local.get $ax) (i32.shl (local.get $w) (i32.const 3))))
    (local.set $gx (i32.add (local.get $fx) (i32.shl (local.get $w) (i32.const 3))))
    (local.set $r (i32.const 0))
    (local.set $q (local.get $rows))
    (block $x1done (loop $xr
      (br_if $x1done (i32.ge_u (local.get $r) (local.get $sh)))
      (local.set $g (i32.add (local.get $grey) (i32.shl (i32.mul (local.get $r) (local.get $sw)) (i32.const 2))))
      (local.set $x (i32.const 0))
      (block $x2done (loop $xx
        (br_if $x2done (i32.ge_u (local.get $x) (local.get $w)))
        (f64.store (local.get $q) (f64.add
          (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $g) (i32.shl (i32.load (i32.add (local.get $x0) (i32.shl (local.get $x) (i32.const 2)))) (i32.const 2)))))
            (f64.load (i32.add (local.get $gx) (i32.shl (local.get $x) (i32.const 3)))))
          (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $g) (i32.shl (i32.load (i32.add (local.get $x1) (i32.shl (local.get $x) (i32.const 2)))) (i32.const 2)))))
            (f64.load (i32.add (local.get $fx) (i32.shl (local.get $x) (i32.const 3)))))))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $xx)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $xr)))
    ;; along y, two pixels at a time: v = f32(rows[y0][x] (1 - fy) + rows[y1][x] fy), then
    ;; clamp(trunc(v 255 + 0.5), 0, 255) into three equal bytes
    (local.set $y (i32.const 0))
    (local.set $o (local.get $out))
    (block $y1done (loop $yy
      (br_if $y1done (i32.ge_u (local.get $y) (local.get $h)))
      (local.set $a (i32.add (local.get $rows) (i32.shl (i32.mul (i32.load (i32.add (local.get $ay) (i32.shl (local.get $y) (i32.const 2)))) (local.get $w)) (i32.const 3))))
      (local.set $b (i32.add (local.get $rows) (i32.shl (i32.mul (i32.load (i32.add (local.get $ay) (i32.shl (i32.add (local.get $h) (local.get $y)) (i32.const 2)))) (local.get $w)) (i32.const 3))))
      (local.set $fy (v128.load64_splat (i32.add (i32.add (local.get $ay) (i32.shl (local.get $h) (i32.const 3))) (i32.shl (local.get $y) (i32.const 3)))))
      (local.set $gy (v128.load64_splat (i32.add (i32.add (local.get $ay) (i32.shl (local.get $h) (i32.const 4))) (i32.shl (local.get $y) (i32.const 3)))))
      (local.set $x (i32.const 0))
      (block $y2done (loop $yx
        (br_if $y2done (i32.ge_u (local.get $x) (local.get $w)))
        (local.set $v (f64x2.add (f64x2.mul (v128.load align=8 (local.get $a)) (local.get $gy)) (f64x2.mul (v128.load align=8 (local.get $b)) (local.get $fy))))
        (local.set $v (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (local.get $v))))
        (local.set $px (i32x4.min_s (i32x4.max_s
          (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (f64x2.mul (local.get $v) (v128.const f64x2 255 255)) (v128.const f64x2 0.5 0.5)))
          (v128.const i32x4 0 0 0 0)) (v128.const i32x4 255 255 255 255)))
        (i32.store8 offset=0 (local.get $o) (i32x4.extract_lane 0 (local.get $px)))
        (i32.store8 offset=1 (local.get $o) (i32x4.extract_lane 0 (local.get $px)))
        (i32.store8 offset=2 (local.get $o) (i32x4.extract_lane 0 (local.get $px)))
        (if (i32.lt_u (i32.add (local.get $x) (i32.const 1)) (local.get $w)) (then
          (i32.store8 offset=3 (local.get $o) (i32x4.extract_lane 1 (local.get $px)))
          (i32.store8 offset=4 (local.get $o) (i32x4.extract_lane 1 (local.get $px)))
          (i32.store8 offset=5 (local.get $o) (i32x4.extract_lane 1 (local.get $px)))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $o (i32.add (local.get $o) (i32.const 6)))
        (local.set $x (i32.add (local.get $x) (i32.const 2)))
        (br $yx)))
      ;; the next row starts here (an odd width stepped o past it)
      (local.set $o (i32.add (local.get $out) (i32.mul (i32.mul (i32.add (local.get $y) (i32.const 1)) (local.get $w)) (i32.const 3))))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $yy)))
  )
