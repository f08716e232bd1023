/* host.c - the host side of tests/mcu/check.c: stdout, and the exit status. */
#include <stdio.h>

void check_puts(const char *s);
int check_main(void);

void check_puts(const char *s) { fputs(s, stdout); }

int main(void) { return check_main(); }
