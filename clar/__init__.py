"""clar: contrastive learning of auditory representations (Al-Tahan & Mohsenzadeh, 2021)."""
