# sei - build, test, bench.
#   make            ./sei and libsei.a
#   make test       every test; ends with "N passed, M failed"
#   make bench      benchmarks (bench/)
# Options: OMP=0 (no OpenMP), SIMD=0 (portable C kernels only), SAN=1 (ASan+UBSan),
#          ARCH=native|x86-64-v3|armv8-a|none (-march), CC=gcc|clang, OPT=-O3,
#          STB=0|1 (PNG/JPEG/BMP/GIF/TGA via stb_image; default 1 when libstb-dev is installed),
#          MPI=1 (sei mpi-run, built with OpenMPI's mpicc)
CC   ?= cc
OMP  ?= 1
SIMD ?= 1
SAN  ?= 0
ARCH ?= native
OPT  ?= -O3
STB  ?= $(if $(wildcard /usr/include/stb/stb_image.h),1,0)
MPI  ?= 0
ifeq ($(MPI),1)
override CC := mpicc
endif

CFLAGS := -std=c11 $(OPT) -g -Wall -Wextra -Werror -ffp-contract=off -D_GNU_SOURCE -I.
ifneq ($(ARCH),none)
CFLAGS += -march=$(ARCH)
endif
ifeq ($(SIMD),0)
CFLAGS += -DSEI_NO_SIMD
endif
ifeq ($(STB),1)
CFLAGS += -DSEI_HAVE_STB
endif
ifeq ($(MPI),1)
CFLAGS += -DSEI_MPI
endif
ifeq ($(OMP),1)
CFLAGS += -fopenmp
LDFLAGS += -fopenmp
endif
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS := -lm -lpthread

CCNAME := $(notdir $(firstword $(CC)))
OPTNAME := $(subst $(eval) ,,$(subst -,,$(OPT)))
BUILD := build/$(CCNAME)-$(OPTNAME)-omp$(OMP)-simd$(SIMD)-san$(SAN)-$(ARCH)-stb$(STB)$(if $(filter 1,$(MPI)),-mpi)

LIB_SRC  := $(sort $(wildcard engine/*.c kernels/*.c autograd/*.c nets/*.c data/*.c split/*.c sim/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test bench demo sei-mpi clean cross-aarch64 FORCE
all: sei libsei.a

# ./sei and libsei.a are copies of the current configuration's build, refreshed whenever
# the configuration changes (switching SAN=1 back and forth never leaves a stale binary).
sei: $(BUILD)/sei FORCE
	@cmp -s $< $@ || cp $< $@
libsei.a: $(BUILD)/libsei.a FORCE
	@cmp -s $< $@ || cp $< $@

$(BUILD)/libsei.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sei: $(CLI_OBJ) $(BUILD)/libsei.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsei.a $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libsei.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $< -o $@ $(BUILD)/libsei.a $(LDFLAGS) $(LDLIBS)

# stb_image_write's JPEG encoder (written by this test only) shifts a signed int past its
# range; UBSan would abort on that third-party line, so this test alone skips the shift check
# (it compiles and links in one command, where LDFLAGS' -fsanitize comes last)
ifeq ($(SAN)$(STB),11)
$(BUILD)/tests/test_data_folder: private LDFLAGS += -fno-sanitize=shift
endif

$(BUILD)/bench/%: bench/%.c $(BUILD)/libsei.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $< -o $@ $(BUILD)/libsei.a $(LDFLAGS) $(LDLIBS)

test: sei $(TEST_BIN)
	@sh tests/run.sh $(BUILD)/tests ./sei

demo: sei
	./sei demo

# ./sei-mpi: the MPI build (sei mpi-run), beside ./sei
ifeq ($(MPI),1)
sei-mpi: $(BUILD)/sei
	@cp -f $< $@
else
sei-mpi: FORCE
	@$(MAKE) --no-print-directory MPI=1 sei-mpi
endif

# ./sei-linkemu: user-space netem between two TUN devices (Linux), for bench/link_check.sh
sei-linkemu: bench/linkemu.c
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror $< -o $@

bench: sei $(BENCH_BIN)
	@sh bench/run.sh $(BUILD)/bench ./sei

# compile everything for AArch64 (NEON micro-kernel) with Debian's cross compiler; running
# the suite under qemu-user comes with the microcontroller/AArch64 work
cross-aarch64:
	@if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then \
	    $(MAKE) CC=aarch64-linux-gnu-gcc ARCH=armv8-a build/aarch64-linux-gnu-gcc-$(OPTNAME)-omp$(OMP)-simd$(SIMD)-san0-armv8-a-stb$(STB)/sei; \
	else echo "SKIP cross-aarch64: aarch64-linux-gnu-gcc not installed (apt-get install gcc-aarch64-linux-gnu)"; fi

clean:
	rm -rf build sei libsei.a sei-mpi sei-linkemu

FORCE:

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(BENCH_BIN:=.d)
