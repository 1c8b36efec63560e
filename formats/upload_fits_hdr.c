/* formats/upload_fits_hdr.c: the FITS headers of an upload, up to the
 * first BINTABLE, read by us before cfitsio sees them (see
 * fmt__fits_prescan in upload_rd.h). cfitsio allocates per TFIELDS and
 * trusts NAXISn, PCOUNT and GCOUNT when it moves between HDUs; a fuzzed
 * TFIELDS made it ask for exabytes. */
#include "formats/upload_rd.h"

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

ts_err fmt__fits_prescan(int fd, int64_t fsize, int *hdu_out, ts_error *err)
{
  uint8_t blk[2880];
  int64_t pos = 0;
  for (int hdu = 1; hdu <= FITS_MAX_HDUS; hdu++) {
    int64_t bitpix = 0, naxis = -1, pcount = 0, gcount = 1, tfields = -1, prod = 1, v;
    int bintable = 0, ended = 0, bad = 0;
    if (pos >= fsize)
      return ts_fail(err, TS_EINVAL, 0, "FITS: the file has no BINTABLE extension");
    for (int b = 0; !ended; b++) {
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
        if (card[8] != '=' || card[9] != ' ')
          continue;
        if (memcmp(card, "XTENSION", 8) == 0)
          bintable = strncmp(card + 10, "'BINTABLE'", 10) == 0 ||
                     strncmp(card + 10, "'A3DTABLE'", 10) == 0;
        else if (memcmp(card, "BITPIX  ", 8) == 0)
          bad |= card_int(card, &bitpix);
        else if (memcmp(card, "NAXIS   ", 8) == 0)
          bad |= card_int(card, &naxis) || naxis < 0 || naxis > 999;
        else if (memcmp(card, "NAXIS", 5) == 0 && card[5] >= '1' && card[5] <= '9') {
          bad |= card_int(card, &v) || v < 0 || (v && prod > INT64_MAX / v);
          prod = bad ? 0 : prod * v;
        } else if (memcmp(card, "PCOUNT  ", 8) == 0)
          bad |= card_int(card, &pcount) || pcount < 0;
        else if (memcmp(card, "GCOUNT  ", 8) == 0)
          bad |= card_int(card, &gcount) || gcount < 0;
        else if (memcmp(card, "TFIELDS ", 8) == 0)
          bad |= card_int(card, &tfields);
      }
    }
    if (bad || naxis < 0 ||
        (bitpix != 8 && bitpix != 16 && bitpix != 32 && bitpix != 64 && bitpix != -32 &&
         bitpix != -64))
      return ts_fail(err, TS_EINVAL, 0,
                     "FITS HDU %d: bad or missing BITPIX, NAXIS, NAXISn, "
                     "PCOUNT or GCOUNT",
                     hdu);
    if (bintable) {
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
