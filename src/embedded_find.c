#include <string.h>

#include "embedded.h"

const struct embedded_file *embedded_find(const char *name)
{
	for (size_t i = 0; embedded_files[i].name; i++)
		if (!strcmp(embedded_files[i].name, name))
			return &embedded_files[i];
	return NULL;
}
