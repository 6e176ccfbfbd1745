// The one translation unit per executable that compiles stb_image (its zlib decoder, used to inflate the
// gzip files, and the PNG reader the tests use) and stb_image_write (the PNG grids). Debian's libstb-dev.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
