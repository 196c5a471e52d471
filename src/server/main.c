/* SPDX-License-Identifier: MIT
 *
 * main.c: placeholder while the core is written.
 */
int main(void);
int
main(void)
{
    return 0;
}
