# attncc build. `make` builds ./attncc; `make test` runs every test; `make demo`
# compiles an example transformer block to C, builds it with clang and runs it.
CC      ?= clang
ifeq ($(origin CC),default)
CC      := clang
endif
PYTHON  ?= /usr/bin/python3
PREFIX  ?= /usr/local
LUA_PC  := $(shell pkg-config --exists lua5.4 && echo lua5.4 || echo lua-5.4)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -Icompiler -Iruntime $(shell pkg-config --cflags $(LUA_PC) libcjson)
LDLIBS  += $(shell pkg-config --libs $(LUA_PC) libcjson) -lm
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

SRCS := compiler/main.c compiler/util.c compiler/graph.c compiler/shape.c \
        compiler/lua_host.c compiler/cpu_limit.c compiler/fold.c compiler/simplify.c compiler/fuse.c compiler/fuse_attention.c compiler/fold_scale.c compiler/fold_projection.c \
        compiler/attn_skip.c compiler/attn_layout.c compiler/fuse_layernorm.c compiler/fuse_elementwise.c compiler/pack.c compiler/target.c compiler/memplan.c compiler/prepare.c compiler/row_groups.c compiler/emit.c compiler/emit_loops.c compiler/emit_gemm.c compiler/emit_attention.c compiler/emit_profile.c compiler/emit_weights.c compiler/dump_dot.c compiler/weights.c \
        compiler/check.c compiler/debug.c compiler/debug_emit.c runtime/attncc_safetensors.c runtime/attncc_params.c
EMBED := dsl/prelude.lua dsl/nn.lua templates/kernels.c $(wildcard templates/kernels_*.c) templates/gemm_driver.c \
         templates/check_main.c templates/check_main.h templates/tensor_io.c templates/tensor_io.h \
         templates/debug_main.c templates/debug_main.h runtime/attncc_safetensors.c runtime/attncc_safetensors.h \
         runtime/attncc_params.c runtime/attncc_params.h
HDRS := compiler/attncc.h compiler/emit_internal.h compiler/ops.def runtime/attncc_safetensors.h runtime/attncc_params.h

all: attncc

build/embed_files: tools/embed_files.c
	@mkdir -p build
	$(CC) -std=c11 -O1 -Wall -Wextra -o $@ $<

build/embedded.c: build/embed_files $(EMBED)
	build/embed_files $@ $(EMBED)

attncc: $(SRCS) build/embedded.c $(HDRS)
	$(CC) $(CFLAGS) -o $@ $(SRCS) build/embedded.c $(LDLIBS)

# the same compiler, built with AddressSanitizer and UBSan: every test group that runs
# attncc runs this build (make test-build and make app use ./attncc, as users would).
# Its objects (build/asan/, with their header dependencies) are the unit tests' too.
asan_objs = $(patsubst %.c,build/asan/%.o,$(1))
build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -MMD -MP -c -o $@ $<
-include $(wildcard build/asan/*/*.d)

build/attncc-asan: $(call asan_objs,$(SRCS) build/embedded.c)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# the compiler with every thread-split threshold at its least (attncc.h, emit.c,
# emit_gemm.c), so --threads 2 splits every loop it can: test-e2e's split2 mode sends the
# cases' small, awkward shapes through the threaded paths with it
SPLIT_ALL := -DMIN_PARALLEL_FLOPS=1 -DMIN_PARALLEL_ELEMENTS=1 -DMIN_PARALLEL_SOFTMAX=1 \
             -DMIN_PARALLEL_LAYERNORM=1 -DMIN_ROWS_PER_THREAD=2
build/attncc-split: $(SRCS) build/embedded.c $(HDRS)
	$(CC) $(CFLAGS) -O1 $(SPLIT_ALL) -o $@ $(SRCS) build/embedded.c $(LDLIBS)

install: attncc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/attncc/runtime
	install -m 755 attncc $(DESTDIR)$(PREFIX)/bin/attncc
	install -m 644 runtime/*.c runtime/*.h $(DESTDIR)$(PREFIX)/share/attncc/runtime/

# ---- tests ----
UNIT_TESTS := build/test_safetensors build/test_params build/test_shape build/test_graph \
              build/test_emit build/test_fuse build/test_attn_skip build/test_fold_projection
UNIT_LIB_SRCS := compiler/util.c compiler/graph.c compiler/shape.c compiler/memplan.c compiler/prepare.c compiler/row_groups.c compiler/fold.c compiler/simplify.c \
                 compiler/fuse.c compiler/fuse_attention.c compiler/fold_scale.c compiler/fold_projection.c compiler/attn_skip.c compiler/attn_layout.c compiler/fuse_layernorm.c compiler/fuse_elementwise.c \
                 compiler/pack.c compiler/target.c \
                 compiler/emit.c compiler/emit_loops.c compiler/emit_gemm.c compiler/emit_attention.c compiler/emit_profile.c compiler/emit_weights.c compiler/dump_dot.c compiler/debug_emit.c build/embedded.c runtime/attncc_safetensors.c runtime/attncc_params.c

build/test_%: tests/unit/test_%.c $(call asan_objs,$(UNIT_LIB_SRCS)) $(HDRS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $< $(call asan_objs,$(UNIT_LIB_SRCS)) $(LDLIBS) -lcmocka

test-unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do echo "== $$t"; ./$$t || exit 1; done

# the GEMM kernels of every target this machine runs, against a double reference
KERNEL_TESTS := build/test_gemm_generic build/test_gemm_generic_fma build/test_gemm_avx2 build/test_gemm_avx512
build/test_gemm_generic: tests/kernels/test_gemm.c templates/kernels_generic.c templates/gemm_driver.c compiler/target.c
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror $(SAN) -DKERNELS='"../../templates/kernels_generic.c"' \
	  -DTARGET_NAME='"generic"' $< -lm -o $@
# the portable kernels at -O3 where the compiler has FMA (clang: the tile's two-k-step loop; gcc:
# its fmaf path)
build/test_gemm_generic_fma: tests/kernels/test_gemm.c templates/kernels_generic.c templates/gemm_driver.c compiler/target.c
	$(CC) -std=c11 -O3 -mavx2 -mfma -Wall -Wextra -Werror -DKERNELS='"../../templates/kernels_generic.c"' \
	  -DTARGET_NAME='"generic"' $< -lm -o $@
build/test_gemm_avx2: tests/kernels/test_gemm.c templates/kernels.c templates/kernels_avx2.c templates/gemm_driver.c compiler/target.c
	$(CC) -std=c11 -O2 -mavx2 -mfma -Wall -Wextra -Werror -DKERNELS='"../../templates/kernels_avx2.c"' \
	  -DTARGET_NAME='"avx2"' $< -lm -o $@
build/test_gemm_avx512: tests/kernels/test_gemm.c templates/kernels.c templates/kernels_avx512.c templates/gemm_driver.c compiler/target.c
	$(CC) -std=c11 -O2 -mavx512f -mavx512vl -mavx512dq -mfma -Wall -Wextra -Werror -DKERNELS='"../../templates/kernels_avx512.c"' \
	  -DTARGET_NAME='"avx512"' $< -lm -o $@
# the same with no partial strip height planned (PREFIX_GEMM_PARTIAL_ROWS 0): every strip of
# fewer than MR rows goes a row at a time, the fallback a model's unplanned height would take
build/test_gemm_avx512_rowwise: tests/kernels/test_gemm.c templates/kernels.c templates/kernels_avx512.c templates/gemm_driver.c compiler/target.c
	$(CC) -std=c11 -O2 -mavx512f -mavx512vl -mavx512dq -mfma -Wall -Wextra -Werror -DKERNELS='"../../templates/kernels_avx512.c"' \
	  -DTARGET_NAME='"avx512"' -DPREFIX_GEMM_PARTIAL_ROWS=0u $< -lm -o $@

build/test_rowops: tests/kernels/test_rowops.c templates/kernels.c
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror $(SAN) $< -lm -o $@
build/test_rowops_avx512: tests/kernels/test_rowops.c templates/kernels.c templates/kernels_avx512.c
	$(CC) -std=c11 -O1 -g -mavx512f -mavx512vl -mavx512dq -mfma -Wall -Wextra -Werror $(SAN) \
	  -DTARGET_KERNELS='"../../templates/kernels_avx512.c"' -DPREFIX_TARGET_SOFTMAX_BLOCK $< -lm -o $@

# neon on an x86 machine: built by an AArch64 cross compiler, run by qemu's user-mode
# emulator (Debian: gcc-aarch64-linux-gnu, qemu-user; .ci/run installs them); on an
# AArch64 machine NEON_CC=$(CC) NEON_RUN= runs them natively
NEON_CC  ?= aarch64-linux-gnu-gcc
NEON_RUN ?= qemu-aarch64
build/test_gemm_neon: tests/kernels/test_gemm.c templates/kernels_neon.c templates/gemm_driver.c compiler/target.c
	$(NEON_CC) -std=c11 -O2 -Wall -Wextra -Werror -DKERNELS='"../../templates/kernels_neon.c"' \
	  -DTARGET_NAME='"neon"' $< -lm -o $@
build/test_rowops_neon: tests/kernels/test_rowops.c templates/kernels.c templates/kernels_neon.c
	$(NEON_CC) -std=c11 -O1 -g -Wall -Wextra -Werror \
	  -DTARGET_KERNELS='"../../templates/kernels_neon.c"' $< -lm -o $@
have_neon = command -v $(NEON_CC) >/dev/null && { [ -z "$(NEON_RUN)" ] || command -v $(NEON_RUN) >/dev/null; }

# the GEMM timing tool of tests/kernels (not run here: built, so it keeps building)
build/bench_gemm: tests/kernels/bench_gemm.c templates/kernels.c templates/kernels_avx512.c templates/gemm_driver.c
	$(CC) -std=c11 -O2 -mavx512f -mavx512vl -mavx512dq -mfma -Wall -Wextra -Werror \
	  -DKERNELS='"../../templates/kernels_avx512.c"' $< -lm -o $@

test-kernels: $(KERNEL_TESTS) build/test_gemm_avx512_rowwise build/test_rowops build/test_rowops_avx512 build/bench_gemm
	./build/test_rowops
	@if grep -q avx512f /proc/cpuinfo; then ./build/test_rowops_avx512; fi
	./build/test_gemm_generic
	@if grep -q avx2 /proc/cpuinfo; then ./build/test_gemm_generic_fma && ./build/test_gemm_avx2; fi
	@if grep -q avx512f /proc/cpuinfo; then ./build/test_gemm_avx512 && ./build/test_gemm_avx512_rowwise; fi
	@if $(have_neon); then $(MAKE) --no-print-directory build/test_gemm_neon build/test_rowops_neon && \
	  $(NEON_RUN) ./build/test_rowops_neon && $(NEON_RUN) ./build/test_gemm_neon --quick; \
	else echo "test-kernels: neon skipped ($(NEON_CC) or $(NEON_RUN) not found)"; fi

test-cli: attncc build/attncc-asan
	ATTNCC=./build/attncc-asan bash tests/cli/run.sh

test-e2e: build/attncc-asan build/attncc-split
	ATTNCC=./build/attncc-asan ATTNCC_SPLIT=./build/attncc-split $(PYTHON) tests/e2e/run_compare.py -j 2

# attncc debug: planted faults are reported at their op and model.lua line
test-debug: build/attncc-asan
	ATTNCC=./build/attncc-asan PYTHON=$(PYTHON) bash tests/debug/run.sh


# the big-model path at d=768 (2 layers, weights blob), tests/big/run.sh
test-big: build/attncc-asan
	ATTNCC=./build/attncc-asan PYTHON=$(PYTHON) bash tests/big/run.sh

# attncc as a build step: the Make and CMake rules of docs/EMBEDDING.md, tests/build/run.sh
test-build: attncc
	ATTNCC=./attncc PYTHON=$(PYTHON) bash tests/build/run.sh

# the bad-input corpus (tests/bad), run by the ASan+UBSan build
test-bad: attncc build/attncc-asan
	ATTNCC=./build/attncc-asan bash tests/bad/run.sh

# libFuzzer targets (clang): the safetensors reader, and the whole front end with the Lua
# limits lowered so every input ends quickly. `make fuzz` runs each FUZZ_SECONDS; make test
# replays the regression inputs and runs each FUZZ_TEST_SECONDS.
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 12
FUZZERS      := build/fuzz_safetensors build/fuzz_frontend
build/fuzz_safetensors: tests/fuzz/fuzz_safetensors.c runtime/attncc_safetensors.c runtime/attncc_params.c $(HDRS)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -o $@ $< runtime/attncc_safetensors.c runtime/attncc_params.c $(LDLIBS)
build/fuzz_frontend: tests/fuzz/fuzz_frontend.c $(SRCS) build/embedded.c $(HDRS)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -DINSTRUCTION_LIMIT_MILLIONS=5 -DMEMORY_LIMIT_MIB=256 \
	  -Dmain=attncc_main -o $@ $< $(SRCS) build/embedded.c $(LDLIBS)

fuzz: $(FUZZERS)
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

test-fuzz: $(FUZZERS)
	bash tests/fuzz/run.sh $(FUZZ_TEST_SECONDS)

# the generated code of every example built with ASan+UBSan and run; thread determinism
test-sanitize: build/attncc-asan
	ATTNCC=./build/attncc-asan bash tests/sanitize/run.sh


# every test group; two at a time (each group's output is printed whole when it ends)
TEST_GROUPS := test-e2e test-unit test-kernels test-cli test-bad test-fuzz test-sanitize \
               test-app test-big test-build test-debug
test:
	$(MAKE) -j2 attncc build/attncc-asan $(UNIT_TESTS)
	$(MAKE) -j2 --output-sync=target $(TEST_GROUPS)

# ---- demo: the transformer block example, end to end ----
demo: attncc
	bash examples/demo.sh

clean:
	rm -rf build attncc

.PHONY: bench bench-deps bigmodel all install test test-unit test-kernels test-cli test-bad test-fuzz fuzz test-sanitize test-e2e test-big test-build test-debug demo clean

# ---- benchmark: attncc against PyTorch and numpy (bench/README.md), e.g. BENCH_ARGS=--quick
# PyTorch at its best needs OpenBLAS behind libblas.so.3 (else: the reference BLAS)
bench-deps:
	@dpkg -s libopenblas0-pthread >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread)

# the 12-layer d=768 encoder (85M parameters) in both weight modes: build times, sizes
bigmodel: attncc
	ATTNCC=./attncc PYTHON=$(PYTHON) bash bench/bigmodel.sh

bench: attncc bench-deps
	$(PYTHON) bench/run_bench.py $(BENCH_ARGS)


# ---- app: examples/app's character-level transformer (trained weights committed), compiled
# by attncc with the weights embedded and driven by generate.c; `make app APP_ARGS='-t 0.8 "The "'`
APP_ARGS ?= -n 200 "This License"
build/app/charlm.c: examples/app/model.lua examples/app/weights.safetensors attncc
	@mkdir -p build/app
	./attncc examples/app/model.lua --weights examples/app/weights.safetensors -MD -o $@
-include build/app/charlm.d

# --target native (attncc's default) needs -march=native
build/app/generate: examples/app/generate.c examples/app/vocab.json build/app/charlm.c
	$(CC) -std=c11 -O2 -march=native -Wall -Wextra -Werror -Ibuild/app -o $@ examples/app/generate.c build/app/charlm.c -lm

app: build/app/generate
	build/app/generate $(APP_ARGS)

# the C program's next-character logits and greedy choices against PyTorch (committed weights)
test-app: build/app/generate
	$(PYTHON) tests/app/check_logits.py build/app/generate

# retrain (a few minutes on one core) and rewrite examples/app/weights.safetensors and vocab.json
app-train:
	$(PYTHON) examples/app/train.py

.PHONY: app test-app app-train
