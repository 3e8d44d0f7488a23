module torov.test/threads

go 1.19
