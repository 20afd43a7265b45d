"""The Ghent–Kanazawa Supporters Club platform."""
