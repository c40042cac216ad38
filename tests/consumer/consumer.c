/* tests/consumer/consumer.c — links against an installed fp4kit and quantizes a 1x16 block. */
#include <fp4kit/fp4kit.h>
#include <stdio.h>

int main(void) {
    float x[16], y[16];
    for (int i = 0; i < 16; i++) x[i] = (float)(i - 8) * 0.25f;
    fp4_view vx = fp4_view_make(x, FP4_DTYPE_F32, 1, 16, FP4_HOST);
    fp4_view vy = fp4_view_make(y, FP4_DTYPE_F32, 1, 16, FP4_HOST);
    fp4_config cfg = fp4_config_nvfp4();
    fp4_status st = fp4_fake_quant(NULL, &vx, &cfg, &vy);
    if (st != FP4_OK) {
        fprintf(stderr, "consumer: %s: %s\n", fp4_status_str(st), fp4_last_error());
        return 1;
    }
    printf("consumer: fake-quant of -2.0 gives %g\n", y[0]);
    return y[0] == -2.0f ? 0 : 1;
}
