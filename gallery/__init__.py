"""The gallery: curated, versioned items whose parameter definitions generate the deploy form."""
