/* host.c - the host side of tests/mcu/check.c: stdout, the exit status, and no tick counter. */
#include <stdint.h>
#include <stdio.h>

void check_puts(const char *s);
int check_main(void);

void check_puts(const char *s) { fputs(s, stdout); }
uint32_t check_ticks(void);
uint32_t check_ticks(void) { return 0; }

int main(void) { return check_main(); }
