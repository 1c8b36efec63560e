/* formats/upload_fits_hdr.c: the FITS headers of an upload, up to the
 * first BINTABLE, read by us before cfitsio sees them (see
 * fmt__fits_prescan in upload_rd.h). cfitsio allocates per TFIELDS and
 * trusts NAXISn, PCOUNT and GCOUNT when it moves between HDUs; a fuzzed
 * TFIELDS made it ask for exabytes. */
#include "formats/upload_int.h"

#include <unistd.h>

enum {
  FITS_MAX_HDUS = 1000, /* HDUs looked at for the first BINTABLE */
  FITS_MAX_HEADER = 200 /* 2880-byte blocks of one header: 7,200 cards */
};

/* An integer keyword value (free format, up to a comment). */
static int card_int(const char *card, int64_t *v)
{
  char val[72];
  memcpy(val, card + 10, 70);
  val[70] = 0;
  char *slash = strchr(val, '/');
  if (slash)
    *slash = 0;
  return ts_parse_int64(val, v) == TS_OK ? 0 : -1;
}

enum { KEY_XTENSION, KEY_BITPIX, KEY_NAXIS, KEY_PCOUNT, KEY_GCOUNT, KEY_TFIELDS, KEY_COUNT };
static const char keys[KEY_COUNT][9] = {"XTENSION", "BITPIX  ", "NAXIS   ",
                                        "PCOUNT  ", "GCOUNT  ", "TFIELDS "};

ts_err fmt__fits_prescan(int fd, int64_t fsize, int *hdu_out, ts_error *err)
{
  uint8_t blk[2880];
  int64_t pos = 0;
  for (int hdu = 1; hdu <= FITS_MAX_HDUS; hdu++) {
    int64_t bitpix = 0, naxis = -1, pcount = 0, gcount = 1, tfields = -1, prod = 1, v;
    int bintable = 0, ended = 0, bad = 0, naxes = 0;
    unsigned seen = 0;
    if (pos >= fsize)
      return ts_fail(err, TS_EINVAL, 0, "FITS: the file has no BINTABLE extension");
    for (int b = 0; !ended && !bad; b++) {
      if (b == FITS_MAX_HEADER)
        return ts_fail(err, TS_EINVAL, 0, "FITS HDU %d: no END in the first %d header blocks", hdu,
                       FITS_MAX_HEADER);
      if (pos + 2880 > fsize || pread(fd, blk, sizeof blk, pos) != (ssize_t)sizeof blk)
        return ts_fail(err, TS_EINVAL, 0,
                       "FITS HDU %d: the header is cut short (truncated file, %lld bytes)", hdu,
                       (long long)fsize);
      pos += 2880;
      for (int c = 0; c < 36 && !ended; c++) {
        const char *card = (const char *)blk + c * 80;
        for (int i = 0; i < 80; i++)
          if (card[i] < 0x20 || card[i] > 0x7e)
            return ts_fail(err, TS_EINVAL, 0,
                           "FITS HDU %d: byte 0x%02x in a header card (only ASCII text is "
                           "allowed)",
                           hdu, (unsigned char)card[i]);
        if (memcmp(card, "END     ", 8) == 0) {
          ended = 1;
          break;
        }
        /* the structural keywords: each once, with a value, and valid */
        int value = card[8] == '=' && card[9] == ' ', key;
        for (key = 0; key < KEY_COUNT; key++)
          if (memcmp(card, keys[key], 8) == 0)
            break;
        int axis = memcmp(card, "NAXIS", 5) == 0 && card[5] >= '1' && card[5] <= '9';
        if (key == KEY_COUNT && !axis)
          continue;
        if (!value)
          bad = 1;
        else if (axis)
          naxes++;
        else if (seen & 1u << key)
          bad = 1;
        seen |= key < KEY_COUNT ? 1u << key : 0;
        if (bad)
          break;
        switch (key) {
        case KEY_XTENSION:
          bintable = strncmp(card + 10, "'BINTABLE'", 10) == 0 ||
                     strncmp(card + 10, "'A3DTABLE'", 10) == 0;
          break;
        case KEY_BITPIX:
          bad |= card_int(card, &bitpix);
          break;
        case KEY_NAXIS:
          bad |= card_int(card, &naxis) || naxis < 0 || naxis > 999;
          break;
        case KEY_PCOUNT:
          bad |= card_int(card, &pcount) || pcount < 0;
          break;
        case KEY_GCOUNT:
          bad |= card_int(card, &gcount) || gcount < 0;
          break;
        case KEY_TFIELDS:
          bad |= card_int(card, &tfields);
          break;
        default: /* NAXISn */
          bad |= card_int(card, &v) || v < 0 || (v && prod > INT64_MAX / v);
          prod = bad ? 0 : prod * v;
        }
      }
    }
    if (naxis != naxes || (hdu > 1 && (!(seen & 1u << KEY_PCOUNT) || !(seen & 1u << KEY_GCOUNT))))
      bad = 1;
    if (bad || naxis < 0 ||
        (bitpix != 8 && bitpix != 16 && bitpix != 32 && bitpix != 64 && bitpix != -32 &&
         bitpix != -64))
      return ts_fail(err, TS_EINVAL, 0,
                     "FITS HDU %d: bad or missing BITPIX, NAXIS, NAXISn, "
                     "PCOUNT or GCOUNT",
                     hdu);
    if (bintable) {
      if (naxis != 2 || bitpix != 8 || gcount != 1)
        return ts_fail(err, TS_EINVAL, 0,
                       "FITS HDU %d: a BINTABLE has BITPIX = 8, NAXIS = 2 and GCOUNT = 1", hdu);
      if (tfields < 1 || tfields > 999)
        return ts_fail(err, TS_EINVAL, 0,
                       "FITS HDU %d: TFIELDS = %lld, a BINTABLE has 1 to 999 columns", hdu,
                       (long long)tfields);
      *hdu_out = hdu;
      return TS_OK;
    }
    int64_t bytes = 0; /* (|BITPIX| / 8) * GCOUNT * (PCOUNT + NAXIS1 * ... * NAXISm) */
    if (naxis > 0 && (__builtin_add_overflow(prod, pcount, &bytes) ||
                      __builtin_mul_overflow(bytes, gcount, &bytes) ||
                      __builtin_mul_overflow(bytes, (bitpix < 0 ? -bitpix : bitpix) / 8, &bytes) ||
                      __builtin_add_overflow(bytes, 2879, &bytes)))
      return ts_fail(err, TS_EINVAL, 0, "FITS HDU %d: data size out of range", hdu);
    if (bytes > fsize - pos)
      return ts_fail(err, TS_EINVAL, 0,
                     "FITS: the file has no BINTABLE extension (HDU %d "
                     "ends past the end of the file)",
                     hdu);
    pos += bytes / 2880 * 2880;
  }
  return ts_fail(err, TS_EINVAL, 0, "FITS: no BINTABLE among the first %d HDUs", FITS_MAX_HDUS);
}
