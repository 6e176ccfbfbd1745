# cmake -DREADME=... -DSNIPPET=... -P CheckReadmeSnippet.cmake
# Fails unless the README contains the snippet file verbatim (the quickstart cannot drift from the code).
file(READ ${README} readme)
file(READ ${SNIPPET} snippet)
string(FIND "${readme}" "${snippet}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not contain ${SNIPPET} verbatim: update the README's quickstart")
endif()
