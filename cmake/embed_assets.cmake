# Turns the page's asset files into one C source: a byte array per file and
# the table web_assets[] naming them, of the type tapserve/web/web_int.h declares.
#   cmake -DOUT=file.c -DDIR=assets-dir -DFILES=a.html,b.js -P embed_assets.cmake
string(REPLACE "," ";" FILES "${FILES}")
set(arrays "")
set(rows "")
set(i 0)
foreach(f ${FILES})
  file(READ ${DIR}/${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  string(APPEND arrays "static const unsigned char a${i}[] = {${body} 0x00};\n")
  string(APPEND rows "  {\"${f}\", a${i}, sizeof a${i} - 1},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE ${OUT}.tmp "/* generated from tapserve/web/assets by cmake/embed_assets.cmake */\n"
  "#include \"tapserve/web/web_int.h\"\n"
  "${arrays}"
  "const web_embedded web_assets[] = {\n${rows}};\n"
  "const size_t web_nassets = sizeof web_assets / sizeof web_assets[0];\n")
file(RENAME ${OUT}.tmp ${OUT})
