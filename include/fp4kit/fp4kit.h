/* fp4kit/fp4kit.h — umbrella header: everything a program needs from fp4kit.
 *
 *   status.h       status codes, fp4_last_error()
 *   context.h      CPU or CUDA execution context, device memory
 *   tensor.h       views, quantization configs, quantized tensors (layouts documented there)
 *   quantize.h     quantize / dequantize / fake-quant / amax / block-scaled GEMM
 *   formats_inline.h  the bit-exact E2M1/E4M3/E8M0/BF16 codecs and Philox (header-only)
 *   layout.h       scale swizzle into the Blackwell 128x4-tile layout
 *   safetensors.h  reading and writing .safetensors files
 *   hadamard.h     Walsh-Hadamard / random Hadamard transforms, block rotations, fused RHT+quantize
 *   gemm.h         W4A16 and BF16 GEMMs (cuBLASLt), GEMM algorithm choice
 *   recipe.h       training recipes (per-GEMM operand formats) and layer policies
 *   linear.h       the quantized linear layer (forward/backward; plain, fake-quant, true-quant)
 *   data.h         tokenizers (byte, GPT-2 BPE), token shards, the data loader
 *   train.h        GPT and MLP language models, AdamW, checkpoints, fp4_train_run / eval / sample
 */
#ifndef FP4KIT_FP4KIT_H
#define FP4KIT_FP4KIT_H

#include "fp4kit/context.h"
#include "fp4kit/quantize.h"
#include "fp4kit/status.h"
#include "fp4kit/tensor.h"
#include "fp4kit/data.h"
#include "fp4kit/layout.h"
#include "fp4kit/linear.h"
#include "fp4kit/recipe.h"
#include "fp4kit/safetensors.h"
#include "fp4kit/train.h"
#include "fp4kit/gemm.h"
#include "fp4kit/hadamard.h"

#define FP4KIT_VERSION_MAJOR 0
#define FP4KIT_VERSION_MINOR 1
#define FP4KIT_VERSION_PATCH 0

#endif
