#include <stdio.h>
int main(void) { puts("tapserve"); return 0; }
