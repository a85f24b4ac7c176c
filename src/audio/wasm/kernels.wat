;; graft's audio kernels in WebAssembly SIMD (128-bit: f32x4, f64x2). Compiled by
;; scripts/build-wasm.mjs (wabt's wat2wasm) into kernels.wasm.ts, which is committed; a test checks
;; that the two agree. JS owns the memory layout (src/audio/wasm/kernels.ts): every pointer is a
;; byte offset into the exported memory, 16-byte aligned.
(module
  (memory (export "memory") 1)

  ;; f32x4 -> f32: (l0 + l1) + (l2 + l3).
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; Polyphase windowed-sinc resampling (src/audio/resample.ts): y[j] = sum_k x[start_j + k] * h[p_j][k]
  ;; with n0 = floor(jM/L), p_j = jM - n0*L, start_j = n0 - K + 1. x (f32) must have K zeros before x[0]
  ;; and K + 8 after its end, and each of the L phase rows of h (f32) `tp` taps, tp a multiple of 4
  ;; (zero-padded). Outputs j, j + L, j + 2L, ... share a phase: they are computed eight at a time,
  ;; each a four-lane dot product.
  (func (export "polyphase")
    (param $x i32) (param $h i32) (param $tp i32) (param $L i32) (param $M i32) (param $K i32)
    (param $y i32) (param $n i32)
    (local $r i32) (local $n0 i32) (local $hp i32) (local $j i32) (local $xs i32) (local $k i32)
    (local $q i32) (local $sM i32) (local $sL i32) (local $rows i32) (local $tb i32)
    (local $hv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $sM (i32.shl (local.get $M) (i32.const 2)))
    (local.set $sL (i32.shl (local.get $L) (i32.const 2)))
    (local.set $tb (i32.shl (local.get $tp) (i32.const 2)))
    (local.set $rows (select (local.get $L) (local.get $n) (i32.lt_u (local.get $L) (local.get $n))))
    (local.set $r (i32.const 0))
    (block $done (loop $phase
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $n0 (i32.div_u (i32.mul (local.get $r) (local.get $M)) (local.get $L)))
      (local.set $hp (i32.add (local.get $h)
        (i32.mul (i32.sub (i32.mul (local.get $r) (local.get $M)) (i32.mul (local.get $n0) (local.get $L))) (local.get $tb))))
      (local.set $xs (i32.add (local.get $x)
        (i32.shl (i32.add (i32.sub (local.get $n0) (local.get $K)) (i32.const 1)) (i32.const 2))))
      (local.set $j (local.get $r))
      ;; eight outputs at a time while j + 7L < n
      (block $end8 (loop $eight
        (br_if $end8 (i32.ge_u (i32.add (local.get $j) (i32.mul (local.get $L) (i32.const 7))) (local.get $n)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $a4 (v128.const i32x4 0 0 0 0)) (local.set $a5 (v128.const i32x4 0 0 0 0))
        (local.set $a6 (v128.const i32x4 0 0 0 0)) (local.set $a7 (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $taps
          (local.set $hv (v128.load (i32.add (local.get $hp) (local.get $k))))
          (local.set $q (i32.add (local.get $xs) (local.get $k)))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $q (i32.add (local.get $q) (local.get $sM)))
          (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (v128.load align=4 (local.get $q)) (local.get $hv))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $taps (i32.lt_u (local.get $k) (local.get $tb))))
        (local.set $q (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2))))
        (f32.store (local.get $q) (call $hsum (local.get $a0)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a1)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a2)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a3)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a4)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a5)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a6)))
        (local.set $q (i32.add (local.get $q) (local.get $sL)))
        (f32.store (local.get $q) (call $hsum (local.get $a7)))
        (local.set $j (i32.add (local.get $j) (i32.shl (local.get $L) (i32.const 3))))
        (local.set $xs (i32.add (local.get $xs) (i32.shl (local.get $sM) (i32.const 3))))
        (br $eight)))
      ;; the rest of this phase one at a time
      (block $end1 (loop $one
        (br_if $end1 (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $taps1
          (local.set $a0 (f32x4.add (local.get $a0)
            (f32x4.mul (v128.load align=4 (i32.add (local.get $xs) (local.get $k))) (v128.load (i32.add (local.get $hp) (local.get $k))))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $taps1 (i32.lt_u (local.get $k) (local.get $tb))))
        (f32.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2))) (call $hsum (local.get $a0)))
        (local.set $j (i32.add (local.get $j) (local.get $L)))
        (local.set $xs (i32.add (local.get $xs) (local.get $sM)))
        (br $one)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $phase)))
  )
)
