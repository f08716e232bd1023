/* cortexm.c - a bare Cortex-M startup for tests/mcu/check.c on QEMU's MPS2 boards: the
 * vector table, .data copy and .bss zeroing, FPU enable, output / exit through ARM
 * semihosting (bkpt 0xab), and a tick counter (SysTick on the core clock, widened to 32 bits
 * by its wrap interrupt). Linker script: tests/mcu/mps2.ld. No C library. */
#include <stdint.h>

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int check_main(void);
void check_puts(const char *s);
void reset_handler(void);
void fault_handler(void);
void systick_handler(void);
uint32_t check_ticks(void);

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void check_puts(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

static void quit(int code) {
    const uint32_t block[2] = {0x20026u, (uint32_t)code}; /* ADP_Stopped_ApplicationExit */
    semihost(0x20, block);                                  /* SYS_EXIT_EXTENDED */
    for (;;) {}
}

void fault_handler(void) {
    check_puts("check: fault\n");
    quit(3);
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile uint32_t wraps;
void systick_handler(void) { wraps++; }

/* core clock ticks since reset (the 24-bit down-counter plus its wraps) */
uint32_t check_ticks(void) {
    uint32_t w, v;
    do w = wraps, v = SYST_CVR; while (w != wraps);
    return (w << 24) + (0xFFFFFFu - v);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))_estack, reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    [15] = systick_handler,
};

void reset_handler(void) {
    for (uint32_t *s = _sidata, *d = _sdata; d < _edata;) *d++ = *s++;
    for (uint32_t *d = _sbss; d < _ebss;) *d++ = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10, CP11 full access (FPU) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    SYST_RVR = 0xFFFFFFu, SYST_CVR = 0, SYST_CSR = 7u; /* enable, interrupt, core clock */
    while (SYST_CVR == 0) {} /* the first reload */
    wraps = 0;
    quit(check_main());
}
