"""Teacher-student methods: the base that hands a method its frozen teachers, and student parts."""
