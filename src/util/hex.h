/* hex.h: hexadecimal digits, for the percent-escapes of the codecs. */
#ifndef DA_UTIL_HEX_H
#define DA_UTIL_HEX_H

/* The value of a hex digit (either case), or -1. */
int util_hex_digit(char c);

#endif
