/* Compiles the public header alone: it must need nothing else. */
#include <llem/llem.h>

int main(void)
{
	return llem_version() == 0;
}
